// tokenledger C++ client: everything.
#pragma once
#include "tokenledger/alert_listener.hpp"
#include "tokenledger/client.hpp"
#include "tokenledger/error.hpp"
#include "tokenledger/quota_decision.hpp"
#include "tokenledger/quota_guard.hpp"
#include "tokenledger/recorder.hpp"
#include "tokenledger/usage_event.hpp"

// tokenledger C++ client: everything.
#pragma once
#include "tokenledger/admin.hpp"
#include "tokenledger/alert_listener.hpp"
#include "tokenledger/client.hpp"
#include "tokenledger/error.hpp"
#include "tokenledger/pricing.hpp"
#include "tokenledger/quota_admin.hpp"
#include "tokenledger/quota_decision.hpp"
#include "tokenledger/quota_guard.hpp"
#include "tokenledger/recorder.hpp"
#include "tokenledger/reports.hpp"
#include "tokenledger/usage_event.hpp"
#include "tokenledger/usd.hpp"

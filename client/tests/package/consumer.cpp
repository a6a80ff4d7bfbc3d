// Records one event through the installed library; prints its event id.
#include <iostream>
#include <tokenledger/tokenledger.hpp>

int main(int argc, char** argv) {
    tokenledger::Client c;
    tokenledger::UsageEvent ev;
    ev.user_id = argc > 1 ? argv[1] : "package-consumer";
    ev.model = "gpt-4o";
    ev.input_tokens = 1;
    auto id = c.insert(ev);
    std::cout << (id ? *id : -1) << "\n";
    return id ? 0 : 1;
}

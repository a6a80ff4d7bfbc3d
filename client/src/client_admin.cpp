// Client's maintenance methods: rollup and maintenance runs, pg_cron
// scheduling, erasure, partitions and request-id pruning.
#include "client_impl.hpp"

namespace tokenledger {
using namespace detail;
namespace {

constexpr Statement kRollup{"tl_usage_rollup", "CALL {schema}.usage_rollup($1::integer)", 1};
constexpr Statement kMaintenance{"tl_usage_maintenance", "CALL {schema}.usage_maintenance($1::integer)", 1};
constexpr Statement kSchedule{
    "tl_usage_schedule", "SELECT j.jobname, j.jobid, j.schedule, j.command FROM {schema}.usage_schedule($1, $2) j", 2};
constexpr Statement kUnschedule{"tl_usage_unschedule", "SELECT j FROM {schema}.usage_unschedule() j", 0};
constexpr Statement kForget{
    "tl_usage_forget_user",
    "SELECT f.object, f.rows_changed, f.reassigned_to FROM {schema}.usage_forget_user($1, $2) f", 2};
constexpr Statement kPartitions{"tl_usage_partitions",
                                [] {
                                    return "SELECT p.partition_name, " + epoch_us("p.range_from") + ", " +
                                           epoch_us("p.range_to") + ", p.is_default FROM {schema}.usage_partitions() p";
                                },
                                0};
constexpr Statement kCreatePartition{"tl_usage_create_partition",
                                     "SELECT {schema}.usage_create_partition($1::timestamptz)", 1};
constexpr Statement kCreatePartitions{"tl_usage_create_partitions",
                                      "SELECT n FROM {schema}.usage_create_partitions($1::integer) n", 1};
constexpr Statement kDropOld{"tl_usage_drop_old_partitions", "SELECT n FROM {schema}.usage_drop_old_partitions() n", 0};
constexpr Statement kPruneIds{"tl_usage_prune_request_ids", "SELECT {schema}.usage_prune_request_ids()", 0};

std::vector<std::string> names(const PGresult* r) {
    return read_rows<std::string>(r, [](RowReader& row) { return row.text(); });
}

}  // namespace

void Client::usage_rollup(std::optional<std::int32_t> batch_size) { impl_->run(kRollup, {param(batch_size)}); }

void Client::usage_maintenance(std::int32_t ahead) { impl_->run(kMaintenance, {param(ahead)}); }

std::vector<CronJob> Client::usage_schedule(const std::string& rollup_schedule,
                                            const std::string& maintenance_schedule) {
    auto r = impl_->run(kSchedule, {param(rollup_schedule), param(maintenance_schedule)});
    return read_rows<CronJob>(r.get(), [](RowReader& row) {
        CronJob j;
        row.into(j.jobname, j.jobid, j.schedule, j.command);
        return j;
    });
}

std::vector<std::string> Client::usage_unschedule() { return names(impl_->run(kUnschedule, Params{}).get()); }

std::vector<ForgetResult> Client::usage_forget_user(const std::string& user_id,
                                                    const std::optional<std::string>& anonymous_id) {
    auto r = impl_->run(kForget, {param(user_id), param(anonymous_id)});
    return read_rows<ForgetResult>(r.get(), [](RowReader& row) {
        ForgetResult f;
        row.into(f.object, f.rows_changed, f.reassigned_to);
        return f;
    });
}

std::vector<LedgerPartition> Client::usage_partitions() {
    return read_rows<LedgerPartition>(impl_->run(kPartitions, Params{}).get(), [](RowReader& row) {
        LedgerPartition p;
        row.into(p.name, p.range_from, p.range_to, p.is_default);
        return p;
    });
}

std::optional<std::string> Client::usage_create_partition(TimePoint ts) {
    return RowReader(impl_->run(kCreatePartition, {param(ts)}).get(), 0).opt_text();
}

std::vector<std::string> Client::usage_create_partitions(std::int32_t ahead) {
    return names(impl_->run(kCreatePartitions, {param(ahead)}).get());
}

std::vector<std::string> Client::usage_drop_old_partitions() { return names(impl_->run(kDropOld, Params{}).get()); }

std::int64_t Client::usage_prune_request_ids() { return RowReader(impl_->run(kPruneIds, Params{}).get(), 0).i64(); }

}  // namespace tokenledger

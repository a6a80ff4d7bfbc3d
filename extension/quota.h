/*
 * quota.h
 *    Declarations shared by the quota C files: the measured limits of one
 *    user (quota_measure.c) and the decisions over them (quota_decide.c).
 */
#ifndef TOKENLEDGER_QUOTA_H
#define TOKENLEDGER_QUOTA_H

#include "postgres.h"
#include "utils/timestamp.h"

#define N_LIMITS 8

typedef enum QuotaWindow
{
	W_MINUTE, W_HOUR, W_DAY, W_MONTH
} QuotaWindow;

/* The limit kinds, in quota_limit_kinds() order. */
extern const char *const tl_quota_limit_names[N_LIMITS];
extern const char *const tl_quota_limit_units[N_LIMITS];
extern const QuotaWindow tl_quota_limit_windows[N_LIMITS];

/* One limit as measured (a row of quota_measure). */
typedef struct QuotaLimit
{
	int			kind;			/* index into tl_quota_limit_names */
	int64		limit;
	int64		used;
	int64		reserved;
	TimestampTz window_start;
	TimestampTz resets_at;
	bool		resets_null;
} QuotaLimit;

typedef struct QuotaMeasure
{
	Datum		plan;			/* text, in the caller's memory context */
	bool		blocked;
	Datum		block_reason;
	bool		block_reason_null;
	Datum		thresholds;		/* smallint[] */
	bool		thresholds_null;
	int			n;				/* limits set, in quota_limit_kinds() order */
	QuotaLimit	lim[N_LIMITS];
} QuotaMeasure;

/*
 * Inside SPI; text and array datums are copied into cxt. read_only reads
 * in the caller's snapshot (a check); false takes a fresh one (a
 * reservation, after its lock).
 */
extern void tl_quota_measure_user(text *user_id, TimestampTz now, bool read_only,
								  QuotaMeasure *m, MemoryContext cxt);

#endif							/* TOKENLEDGER_QUOTA_H */

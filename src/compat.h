/*
 * compat.h
 *	  Every difference between the PostgreSQL majors credits supports (15,
 *	  17, 18; 16 untested) that the C code meets, in one place.  Included by
 *	  amount.h, hence by every C file, right after postgres.h.
 */
#ifndef CREDITS_COMPAT_H
#define CREDITS_COMPAT_H

#include "postgres.h"

/* 16 moved the varlena macros (VARDATA_ANY, VARSIZE_ANY_EXHDR) to varatt.h. */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/*
 * 18 replaced the suffix pg_attribute_noreturn() by the prefix pg_noreturn;
 * before 18, the C11 keyword it stands for.
 */
#ifndef pg_noreturn
#define pg_noreturn _Noreturn
#endif

/* 18 removed INT64_MODIFIER: print int64 as long long with %lld. */
#define CREDITS_INT64_ARG(x)	((long long) (x))

#endif							/* CREDITS_COMPAT_H */

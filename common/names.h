/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Names of enum values. Each enum that has names keeps them in a table
 * indexed by value (`static const char *const names[] = {[A] = "a", ...}`)
 * and reads it through smk_enum_name, so a value outside the table, or one
 * the table leaves out, gives the caller's fallback instead of a NULL or a
 * read past the end. Each table sits beside a _Static_assert that it is as
 * long as its enum (the enum's last, counting member), so a value appended
 * without a name does not build, and tests/unit/test_names.c walks every
 * value, so one inserted without a name fails there. (The key types are
 * bits and have no count: sm/alg.c says how their table is checked.)
 */
#ifndef SMK_NAMES_H
#define SMK_NAMES_H

#include <stddef.h>

/* Entries in an array (not a pointer). */
#define SMK_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* names[value] where value is in [0, count) and names[value] is set;
 * fallback otherwise. */
const char *smk_enum_name(const char *const *names, size_t count, int value, const char *fallback);

#endif

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Where the user PIN comes from: a file (re-read at every use, so the PIN
 * stays in memory only for the few microseconds of a VERIFY) or a file
 * descriptor (read once at start-up; an fd cannot be read twice, so the PIN
 * is kept in a secret buffer until pin_source_free).
 *
 * PIN bytes only ever live in smk_buf buffers marked secret and are wiped
 * when released. No function here puts PIN bytes into an error message.
 */
#ifndef SMK_PIN_H
#define SMK_PIN_H

#include "../common/buf.h"
#include "../common/err.h"

/* SmartCard-HSM user PIN length in bytes (protocol reference §7.1). */
#define PIN_MIN_LEN 6
#define PIN_MAX_LEN 16

typedef struct smk_pin_source {
	char *path;   /* file to read at each use, or NULL */
	smk_buf kept; /* PIN read from an fd (secret) */
} smk_pin_source;

/* Use the PIN in the file at path. The file is read and checked now (so a
 * bad configuration fails at start-up) and again at every use. It must be a
 * regular file that others may not read and only its owner may write
 * (root:smkeyd 0640 and 0400 credentials are fine). One trailing newline
 * (LF or CR LF) is ignored. */
int pin_source_file(smk_pin_source *s, const char *path, smk_err *e);

/* Read the PIN from fd until end of file, keep it, and close nothing: the
 * caller owns fd. */
int pin_source_fd(smk_pin_source *s, int fd, smk_err *e);

/* Append the PIN to pin, which the caller has marked secret (pin->secret = 1)
 * and wipes with smk_buf_free right after use. */
int pin_get(const smk_pin_source *s, smk_buf *pin, smk_err *e);

/* Wipe and release. */
void pin_source_free(smk_pin_source *s);

#endif

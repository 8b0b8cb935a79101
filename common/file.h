/* SPDX-License-Identifier: BSD-3-Clause */
/* Reading a small file that comes from outside (config, policy) with a
 * bound, and writing the files the client is asked to write. */
#ifndef SMK_FILE_H
#define SMK_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "buf.h"
#include "err.h"

/* Read the regular file at path into out (appended). At most max + 1 bytes
 * are read, so a caller can refuse a file over max instead of parsing a
 * file cut at max. Errors name the path. */
int smk_read_file(const char *path, size_t max, smk_buf *out, smk_err *e);

/* Read path (with SMK_READ_STDIN, "-" is standard input) to its end
 * through stdio, appended to out; more than max bytes in out is refused
 * ("PATH: larger than MAX bytes"). For inputs named on a command line and
 * trust anchors, whatever kind of file they are. Errors name the path. */
#define SMK_READ_STDIN 1u
int smk_read_stream(const char *path, unsigned flags, size_t max, smk_buf *out, smk_err *e);

/* Output files (smkey export -o, audit --report, card --req-out, ...).
 *
 * The bytes go to a new temporary file in the destination's directory
 * (mkstemp: O_CREAT|O_EXCL, never through a link), which is renamed into
 * place at commit, so a destination is either untouched or whole. The
 * destination itself is never followed: a symbolic link there is refused
 * (with or without SMK_OUT_FORCE), and anything but a regular file too. An
 * existing file is replaced only with SMK_OUT_FORCE; without it the final
 * rename is RENAME_NOREPLACE, so a file that appears meanwhile is not
 * overwritten either. Path "-" is standard output. Errors name the path. */
#define SMK_OUT_FORCE 1u

typedef struct smk_outfile {
	FILE *f; /* write here between open and commit */
	char *path, *tmp;
	unsigned flags;
} smk_outfile;

int smk_outfile_open(smk_outfile *o, const char *path, unsigned flags, smk_err *e);
/* The check smk_outfile_open makes first, for a caller that wants to fail
 * before expensive work (a key made on a card): what is at path now may be
 * replaced by a new file, i.e. nothing, or (with SMK_OUT_FORCE) a regular
 * file. The final rename checks again. */
int smk_outfile_check(const char *path, unsigned flags, smk_err *e);
/* Flush, fsync and put the file in place (mode 0644 less the umask). On
 * failure the temporary file is removed and the destination untouched. */
int smk_outfile_commit(smk_outfile *o, smk_err *e);
/* Give up: remove the temporary file; the destination is untouched. Safe on
 * a zeroed, committed or failed smk_outfile. */
void smk_outfile_abort(smk_outfile *o);
/* open + one write + commit. */
int smk_write_new_file(const char *path, const void *p, size_t n, unsigned flags, smk_err *e);

#endif

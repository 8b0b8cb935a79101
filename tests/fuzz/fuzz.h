/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared by the libFuzzer targets in this folder. A target is one file
 * tests/fuzz/fuzz_<parser>.c that includes this header and defines
 * LLVMFuzzerTestOneInput; CMake builds every such file when SMK_FUZZ=ON, so a
 * new parser needs one new file (plus a seed corpus), nothing else.
 *
 * Everything here is static inline: the targets are single translation units
 * and unused helpers must not warn.
 *
 * Fixtures (trust anchors, the genuine device chain) are read from the source
 * tree once, at first use. SMK_SOURCE_DIR is set by CMake and can be
 * overridden at run time with the environment variable of the same name.
 * Setup failures abort: a target without its fixtures would fuzz nothing.
 */
#ifndef SMK_FUZZ_H
#define SMK_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/err.h"
#include "sm/chain.h"
#include "sm/cvc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort on a broken invariant: libFuzzer reports it as a crash with the input. */
#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static inline void fz_die(const char *what, const smk_err *e)
{
	fprintf(stderr, "fuzz setup: %s%s%s\n", what, e ? ": " : "", e ? e->msg : "");
	abort();
}

static inline const char *fz_source_dir(void)
{
	const char *d = getenv("SMK_SOURCE_DIR");

	return d && *d ? d : SMK_SOURCE_DIR;
}

/* The whole of a file below the source tree. */
static inline void fz_read_source(const char *rel, smk_buf *out)
{
	char path[4096];
	uint8_t chunk[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fz_source_dir(), rel);
	f = fopen(path, "rb");
	if (f == NULL)
		fz_die(path, NULL);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (smk_buf_add(out, chunk, n) < 0)
			fz_die("out of memory", NULL);
	fclose(f);
}

/* A CVC fixture (binary or hex text, as tests/data/cvc holds them). */
static inline void fz_read_cvc(const char *rel, smk_buf *out)
{
	smk_buf raw = SMK_BUF_INIT;
	smk_err e;

	fz_read_source(rel, &raw);
	if (cvc_input_bytes(raw.data, raw.len, out, &e) < 0)
		fz_die(rel, &e);
	smk_buf_free(&raw);
}

/* The roots shipped in the source tree: the production root (etc/trust)
 * and CardContact's test root (etc/trust-test), so inputs may chain to
 * either. */
static inline void fz_trust(trust_store *t)
{
	static const char *const dirs[] = {"etc/trust", "etc/trust-test"};
	char dir[4096];
	smk_err e;
	size_t i;

	for (i = 0; i < 2; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", fz_source_dir(), dirs[i]);
		if (trust_load_dir(t, dir, &e) < 0)
			fz_die(dir, &e);
	}
}

/* A fixed day on which the genuine chain of tests/data/cvc is valid, so a
 * crash reproduces on any later date. */
static inline time_t fz_day(void)
{
	const cvc_date d = {2026, 11, 27};

	return cvc_date_to_time(&d) + 12 * 3600;
}

/* The genuine DENK0404144 device chain (protocol reference §8.2), validated
 * against etc/trust. */
static inline void fz_genuine_chain(const trust_store *t, devaut_chain *c)
{
	smk_buf b = SMK_BUF_INIT;
	smk_err e;

	fz_read_cvc("tests/data/cvc/DENK0404144-2F02.hex", &b);
	if (chain_validate(b.data, b.len, t, fz_day(), c, &e) < 0)
		fz_die("genuine device chain", &e);
	smk_buf_free(&b);
}

/* Consuming the input piece by piece. Past the end every read gives zeros,
 * so a short input still selects something. */
typedef struct fz_in {
	const uint8_t *p;
	size_t n;
} fz_in;

static inline uint8_t fz_u8(fz_in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint16_t fz_u16(fz_in *in)
{
	uint16_t hi = fz_u8(in);

	return (uint16_t)(hi << 8 | fz_u8(in));
}

/* Up to want bytes, pointing into the input. */
static inline const uint8_t *fz_take(fz_in *in, size_t want, size_t *got)
{
	const uint8_t *p = in->p;

	*got = want < in->n ? want : in->n;
	in->p += *got;
	in->n -= *got;
	return p;
}

/* A copy of p[0..n) in its own allocation of exactly n bytes, so that ASan
 * catches a parser reading one byte past a piece cut out of the input. */
static inline uint8_t *fz_dup(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n);

	if (q == NULL && n > 0)
		fz_die("out of memory", NULL);
	if (n > 0)
		memcpy(q, p, n);
	return q;
}

#endif

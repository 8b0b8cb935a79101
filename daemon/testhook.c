/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test hooks of smkeyd (docs/daemon.md): SMKEYD_TEST_CRASH_AT=POINT makes
 * the daemon die like kill -9 at a named point, so the reliability tests
 * can check recovery. Nothing happens unless that variable is set.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

/* SMKEYD_TEST_CRASH_AT=POINT: die like kill -9 at a named point of a
 * generation, so the reliability tests can check recovery (after-intent in
 * generate.c, after-gakp in generate_card.c, the certificate import's in
 * certs.c; the archive's commit steps through testhook_crash_step). */
void testhook_crash_point(const char *where)
{
	const char *at = getenv("SMKEYD_TEST_CRASH_AT");

	if (at && strcmp(at, where) == 0) {
		log_warn("SMKEYD_TEST_CRASH_AT=%s: sending itself SIGKILL (test hook)", where);
		kill(getpid(), SIGKILL);
		_exit(99); /* not reached */
	}
}

void testhook_crash_step(const char *step, void *ctx)
{
	(void)ctx;
	testhook_crash_point(step);
}

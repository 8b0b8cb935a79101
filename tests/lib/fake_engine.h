/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An engine (daemon/engine.h) for tests of the varlink layer (methods.c)
 * without cards or an archive: every engine_* entry point hands what it was
 * given to the hooks the test sets in fake_engine. One copy for the unit
 * tests and the fuzz targets.
 *
 * A test that sets the hooks pulls this file in ahead of the daemon library,
 * so the real engine (daemon/engine.c) is never linked into it.
 */
#ifndef SMK_TEST_FAKE_ENGINE_H
#define SMK_TEST_FAKE_ENGINE_H

#include <jansson.h>

#include "daemon/engine.h"

typedef struct fake_engine_hooks {
	/* Generate; label and device are NULL when the call has none */
	int (*generate)(engine *eng, const char *policy, const char *label, const char *device,
			engine_progress_fn progress, engine_done_fn done, void *ctx,
			engine_error *err);
	/* every query method (GetRecord, ListRecords, ...), with its parameters;
	 * the text forms (GetRecord, ListPolicies) encode the reply it makes */
	int (*query)(engine *eng, json_t *params, json_t **reply, engine_error *err);
	/* every card method (CreateCSR, SelfSign, ImportCertificate, Adopt,
	 * ListDeviceObjects): 0 accepted and answered through done, -1 refused */
	int (*card)(engine *eng, json_t *params, engine_done_fn done, void *ctx, engine_error *err);
} fake_engine_hooks;

extern fake_engine_hooks fake_engine;

#endif

/* SPDX-License-Identifier: BSD-3-Clause */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "names.h"

int smk_fail(smk_err *e, enum smk_errc code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	e->code = code;
	e->sw = 0;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int smk_context(smk_err *e, const char *fmt, ...)
{
	char prefix[256];
	size_t plen, mlen, cap = sizeof(e->msg);
	va_list ap;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix) - 2, fmt, ap);
	va_end(ap);
	strcat(prefix, ": ");
	plen = strlen(prefix);
	mlen = strnlen(e->msg, cap - 1);
	/* keep the end of the old message if both do not fit: it names the cause */
	if (plen + mlen > cap - 1)
		mlen = cap - 1 - plen;
	memmove(e->msg + plen, e->msg, mlen);
	memcpy(e->msg, prefix, plen);
	e->msg[plen + mlen] = '\0';
	return -1;
}

void smk_err_clear(smk_err *e)
{
	if (e == NULL)
		return;
	e->code = SMK_OK;
	e->sw = 0;
	e->msg[0] = '\0';
}

static const char *const errc_names[] = {
    [SMK_OK] = "ok",
    [SMK_E_ARG] = "argument",
    [SMK_E_NOMEM] = "memory",
    [SMK_E_FORMAT] = "format",
    [SMK_E_UNSUPPORTED] = "unsupported",
    [SMK_E_SIGNATURE] = "signature",
    [SMK_E_TRUST] = "trust",
    [SMK_E_VALIDITY] = "validity",
    [SMK_E_MISMATCH] = "mismatch",
    [SMK_E_CARD] = "card",
    [SMK_E_SM] = "secure-messaging",
    [SMK_E_IO] = "io",
    [SMK_E_CRYPTO] = "crypto",
    [SMK_E_POLICY] = "policy",
    [SMK_E_DENIED] = "denied",
    [SMK_E_TIMEOUT] = "timeout",
    [SMK_E_RESET] = "reset",
    [SMK_E_LABEL] = "label",
};
_Static_assert(SMK_NELEM(errc_names) == SMK_ERRC_COUNT, "every error code has a name");

const char *smk_errc_name(enum smk_errc code)
{
	return smk_enum_name(errc_names, SMK_NELEM(errc_names), code, "unknown");
}

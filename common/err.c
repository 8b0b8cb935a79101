/* SPDX-License-Identifier: BSD-3-Clause */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

const char *smk_errc_name(enum smk_errc code)
{
	switch (code) {
	case SMK_OK:
		return "ok";
	case SMK_E_ARG:
		return "argument";
	case SMK_E_NOMEM:
		return "memory";
	case SMK_E_FORMAT:
		return "format";
	case SMK_E_UNSUPPORTED:
		return "unsupported";
	case SMK_E_SIGNATURE:
		return "signature";
	case SMK_E_TRUST:
		return "trust";
	case SMK_E_VALIDITY:
		return "validity";
	case SMK_E_MISMATCH:
		return "mismatch";
	case SMK_E_CARD:
		return "card";
	case SMK_E_SM:
		return "secure-messaging";
	case SMK_E_IO:
		return "io";
	case SMK_E_CRYPTO:
		return "crypto";
	case SMK_E_POLICY:
		return "policy";
	case SMK_E_DENIED:
		return "denied";
	case SMK_E_TIMEOUT:
		return "timeout";
	case SMK_E_RESET:
		return "reset";
	case SMK_E_LABEL:
		return "label";
	}
	return "unknown";
}

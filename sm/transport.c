/* SPDX-License-Identifier: BSD-3-Clause */
#include "transport.h"

#include <stdlib.h>

int transport_transmit(smk_transport *t, const uint8_t *cmd, size_t n, smk_buf *resp,
		       unsigned timeout_ms, smk_err *e)
{
	if (t == NULL || t->ops == NULL)
		return smk_fail(e, SMK_E_ARG, "transport: not open");
	if (cmd == NULL || n < 4)
		return smk_fail(e, SMK_E_ARG, "reader \"%s\": command of %zu bytes is no APDU",
				transport_name(t), n);
	return t->ops->transmit(t->impl, cmd, n, resp, timeout_ms, e);
}

int transport_reconnect(smk_transport *t, int reset, unsigned timeout_ms, smk_err *e)
{
	if (t == NULL || t->ops == NULL)
		return smk_fail(e, SMK_E_ARG, "transport: not open");
	return t->ops->reconnect(t->impl, reset, timeout_ms, e);
}

const char *transport_name(const smk_transport *t)
{
	if (t == NULL || t->ops == NULL)
		return "(none)";
	return t->ops->name(t->impl);
}

const uint8_t *transport_atr(const smk_transport *t, size_t *len)
{
	*len = 0;
	if (t == NULL || t->ops == NULL || t->ops->atr == NULL)
		return NULL;
	return t->ops->atr(t->impl, len);
}

void transport_release(smk_transport *t)
{
	if (t != NULL && t->ops != NULL && t->ops->release != NULL)
		t->ops->release(t->impl);
}

void transport_close(smk_transport *t)
{
	if (t == NULL)
		return;
	if (t->ops != NULL)
		t->ops->close(t->impl);
	free(t);
}

/* SPDX-License-Identifier: BSD-3-Clause */
/* smkey: one entry point per sub-command, each in its own file. */
#ifndef SMK_CLIENT_H
#define SMK_CLIENT_H

#include <stdio.h>

#include "sm/chain.h"

/* Each returns the process exit status: 0 success, 1 the thing checked does
 * not hold (or smkeyd refused or failed), 2 usage or input error, 3 smkeyd
 * unreachable (client/varlink_client.h); for the offline smkey verify, 3 is
 * "verified what the device proves, but no log is pinned". */
typedef int (*smkey_cmd_fn)(int argc, char **argv);
int cmd_cvc(int argc, char **argv);	    /* cmd_cvc.c */
int cmd_policy(int argc, char **argv);	    /* cmd_policy.c */
int cmd_verify(int argc, char **argv);	    /* cmd_verify.c */
int cmd_audit(int argc, char **argv);	    /* cmd_audit.c */
int cmd_log_key(int argc, char **argv);	    /* cmd_logkey.c */
int cmd_export(int argc, char **argv);	    /* cmd_export.c */
int cmd_generate(int argc, char **argv);    /* cmd_generate.c */
int cmd_list(int argc, char **argv);	    /* cmd_records.c */
int cmd_show(int argc, char **argv);	    /* cmd_records.c */
int cmd_bundle(int argc, char **argv);	    /* cmd_records.c */
int cmd_policies(int argc, char **argv);    /* cmd_daemon_info.c */
int cmd_devices(int argc, char **argv);	    /* cmd_daemon_info.c */
int cmd_checkpoint(int argc, char **argv);  /* cmd_daemon_info.c */
int cmd_card(int argc, char **argv);	    /* cmd_card.c */
int cmd_csr(int argc, char **argv);	    /* cmd_csr.c */
int cmd_selfsign(int argc, char **argv);    /* cmd_csr.c */
int cmd_sign(int argc, char **argv);	    /* cmd_sign.c */
int cmd_import_cert(int argc, char **argv); /* cmd_import_cert.c */
int cmd_adopt(int argc, char **argv);	    /* cmd_adopt.c */
int cmd_inspect(int argc, char **argv);	    /* cmd_inspect.c */
int cmd_relay(int argc, char **argv);	    /* cmd_relay.c */
int cmd_relay_gate(int argc, char **argv);  /* cmd_relay.c */

/* One line on f when t holds a test or simulator root (sm/chain.h
 * trust_test_warning); nothing otherwise. trust_warning.c */
void smkey_warn_test_roots(FILE *f, const trust_store *t);

#endif

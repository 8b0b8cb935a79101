/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemon configuration, /etc/smkeyd/smkeyd.yaml (smkeyd.yaml(5)).
 *
 * Read with the strict YAML reader (common/yaml.h): every problem is reported
 * as FILE:LINE:COL with what would be right. Relative paths are taken
 * relative to the directory of the configuration file, so a test or demo
 * tree can carry its own config. Nothing here touches a device, the archive
 * or a PIN: `smkeyd --check-config` only checks what a file can say, plus
 * that the policy and trust directories load.
 */
#ifndef SMK_DAEMON_CONFIG_H
#define SMK_DAEMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "../archive/cosig.h"
#include "../common/err.h"

#define CONFIG_FILE_MAX (64 * 1024)
#define CONFIG_DEVICES_MAX 16
#define CONFIG_DEFAULT_PATH "/etc/smkeyd/smkeyd.yaml"

/* One HSM the daemon may use. A reader pattern, a serial, or both select it;
 * the PIN comes from exactly one of pin_file / pin_credential. */
typedef struct config_device {
	char *reader;	      /* fnmatch(3) pattern on the PC/SC reader name; NULL: any */
	char *serial;	      /* DevAut serial ("DENK0404144") or CHR; NULL: any */
	char *pin_file;	      /* absolute path */
	char *pin_credential; /* name of a systemd credential ($CREDENTIALS_DIRECTORY/NAME) */
	int relayed;	      /* reached through `smkey relay` (docs/notary.md); needs serial */
	/* let the card go after this many seconds without a job (0: never);
	 * from idle-release-s, else the global idle-release after-s */
	unsigned idle_release_s;
	int idle_release_set;
	unsigned line, col; /* where the entry starts, for later messages */
} config_device;

typedef struct config_limits {
	unsigned queue;		     /* jobs waiting per device */
	unsigned message_size;	     /* bytes in one client message */
	unsigned clients;	     /* connections at once */
	unsigned clients_per_uid;    /* connections of one uid at once */
	unsigned request_timeout_ms; /* first byte of a message to its NUL */
	unsigned idle_timeout_ms;    /* no call and no byte (0: never closed for it) */
	unsigned checkpoint_hold_ms; /* how long a batch of records may wait for
					more before its checkpoint (commit.c) */
	unsigned signature_hold_ms;  /* the same for a batch of signature records
					alone, whose replies do not wait for it */
} config_limits;

/* A witness (c2sp.org/tlog-witness): smkeyd stores only cosignatures that
 * verify against one of these keys; smkeyd-witness pushes checkpoints to
 * those with a url. */
typedef struct config_witness {
	char *vkey; /* the verifier key line, as written */
	cosig_key key;
	char *url; /* submission prefix (…/add-checkpoint is appended); NULL: not pushed */
	unsigned line, col; /* where the entry starts */
} config_witness;

typedef struct config {
	char *file;	    /* the path it was read from */
	char *socket_path;  /* used when not socket-activated */
	char *archive_path; /* the SQLite archive */
	char *policies_dir;
	char *trust_dir;
	char *archive_key_device; /* serial of the device that holds the archive key; NULL: first */
	config_device *devices;
	size_t device_count;
	config_limits limits;
	unsigned retry_min_s, retry_max_s; /* backoff of a device that is down */
	/* idle-release: the default of idle_release_s (0: off) and how long a job
	 * waits to take a released card back before DeviceUnavailable */
	unsigned idle_release_s, idle_release_wait_s;
	/* admin-groups: members (and uid 0) may adopt keys, inspect cards and
	 * make certificates for any key; names resolved to gids at load */
	char **admin_groups;
	uint32_t *admin_gids;
	size_t admin_group_count;
	/* witnesses: keys whose cosignatures are kept, and where to push */
	config_witness *witnesses;
	size_t witness_count;
	/* witness-user: this uid (besides root and admin-groups) may hand in
	 * cosignatures and push outcomes (AddCosignatures, ReportWitnessPush) */
	char *witness_user;
	uint32_t witness_uid;
} config;

/* Parse text (the content of file; file is used for messages and relative
 * paths). On failure *out is NULL and e says FILE:LINE:COL: what. */
int config_parse(const char *file, const uint8_t *text, size_t len, config **out, smk_err *e);
/* Read at most CONFIG_FILE_MAX bytes of path and parse them. */
int config_load(const char *path, config **out, smk_err *e);
void config_free(config *c);

/* The file to read the PIN of d from: pin-file, or the credential in
 * $CREDENTIALS_DIRECTORY (which must then be set). */
int config_pin_path(const config_device *d, char *out, size_t n, smk_err *e);

#endif

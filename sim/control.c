/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket: how a test programs a running simulator. One request
 * line per connection, one reply line:
 *   fault SPEC      add a fault (sim_fault_parse)     -> ok
 *   clear           drop pending faults               -> ok
 *   latency SPEC    change the latency model          -> ok
 *   stats           the counters as JSON              -> ok {...}
 *   reset-stats     zero the counters                 -> ok
 *   save            write the state file now          -> ok
 */
#include "sim/vpcd.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LINE_MAX_LEN 512

static int fill_addr(struct sockaddr_un *sa, const char *path, smk_err *e)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return smk_fail(e, SMK_E_ARG, "control socket %s: path too long", path);
	strcpy(sa->sun_path, path);
	return 0;
}

int sim_control_listen(const char *path, smk_err *e)
{
	struct sockaddr_un sa;
	int fd;

	if (fill_addr(&sa, path, e) < 0)
		return -1;
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		smk_fail(e, SMK_E_IO, "control socket %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void exec_line(sim_card *c, char *line, FILE *out)
{
	char *arg = strchr(line, ' ');
	smk_err e;

	if (arg)
		*arg++ = '\0';
	if (strcmp(line, "fault") == 0 && arg) {
		sim_fault f;

		if (sim_fault_parse(arg, sim_card_stats(c)->apdus, &f, &e) < 0 ||
		    sim_card_add_fault(c, &f, &e) < 0)
			fprintf(out, "error %s\n", e.msg);
		else
			fputs("ok\n", out);
	} else if (strcmp(line, "clear") == 0) {
		sim_card_clear_faults(c);
		fputs("ok\n", out);
	} else if (strcmp(line, "latency") == 0 && arg) {
		sim_latency l = {0};

		if (sim_latency_parse(arg, &l, &e) < 0) {
			fprintf(out, "error %s\n", e.msg);
		} else {
			sim_card_set_latency(c, &l);
			fputs("ok\n", out);
		}
	} else if (strcmp(line, "stats") == 0) {
		fputs("ok ", out);
		sim_card_write_stats(c, out);
	} else if (strcmp(line, "reset-stats") == 0) {
		sim_card_stats_reset(c);
		fputs("ok\n", out);
	} else if (strcmp(line, "save") == 0) {
		if (sim_card_save(c, NULL, &e) < 0)
			fprintf(out, "error %s\n", e.msg);
		else
			fputs("ok\n", out);
	} else {
		fprintf(out, "error unknown request \"%s\"\n", line);
	}
}

void sim_control_serve(sim_card *c, int listen_fd)
{
	char line[LINE_MAX_LEN];
	size_t n = 0;
	struct pollfd p;
	FILE *out;
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	/* one line, and a slow client does not stall the card for long */
	p.fd = fd;
	p.events = POLLIN;
	while (n < sizeof(line) - 1 && poll(&p, 1, 1000) == 1) {
		ssize_t r = read(fd, line + n, sizeof(line) - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(line, '\n', n))
			break;
	}
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	out = fdopen(fd, "w");
	if (out == NULL) {
		close(fd);
		return;
	}
	exec_line(c, line, out);
	fclose(out);
}

int sim_control_request(const char *path, const char *line, smk_buf *reply, smk_err *e)
{
	struct sockaddr_un sa;
	char buf[4096];
	ssize_t r;
	int fd;

	if (fill_addr(&sa, path, e) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		smk_fail(e, SMK_E_IO, "control socket %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (write(fd, line, strlen(line)) < 0 || write(fd, "\n", 1) < 0) {
		close(fd);
		return smk_fail(e, SMK_E_IO, "control socket %s: %s", path, strerror(errno));
	}
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		if (smk_buf_add(reply, buf, (size_t)r) < 0) {
			close(fd);
			return smk_fail(e, SMK_E_NOMEM, "control socket: out of memory");
		}
	close(fd);
	while (reply->len && (reply->data[reply->len - 1] == '\n'))
		reply->len--;
	if (smk_buf_add_byte(reply, 0) < 0)
		return smk_fail(e, SMK_E_NOMEM, "control socket: out of memory");
	reply->len--;
	return 0;
}

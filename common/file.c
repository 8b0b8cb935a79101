#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int smk_read_file(const char *path, size_t max, smk_buf *out, smk_err *e)
{
	struct stat st;
	size_t got = 0;
	ssize_t r;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return smk_fail(e, SMK_E_IO, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return smk_fail(e, SMK_E_IO, "%s: not a regular file", path);
	}
	if (smk_buf_reserve(out, max + 1) < 0) {
		close(fd);
		return smk_fail(e, SMK_E_NOMEM, "%s: out of memory", path);
	}
	/* one byte past the limit, so a file that is too long is refused, not cut */
	while (got < max + 1) {
		r = read(fd, out->data + out->len + got, max + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			smk_fail(e, SMK_E_IO, "%s: read: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	out->len += got;
	rc = 0;
out:
	close(fd);
	return rc;
}

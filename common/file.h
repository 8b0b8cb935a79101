/* Reading a small file that comes from outside (config, policy) with a bound. */
#ifndef SMK_FILE_H
#define SMK_FILE_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

/* Read the regular file at path into out (appended). At most max + 1 bytes
 * are read, so a caller can refuse a file over max instead of parsing a
 * file cut at max. Errors name the path. */
int smk_read_file(const char *path, size_t max, smk_buf *out, smk_err *e);

#endif

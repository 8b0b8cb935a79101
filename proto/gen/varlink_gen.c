/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * varlink-gen: turns a varlink interface description into C at build time,
 * so the text smkeyd serves and the error names its code uses come from the
 * one file a reader opens (proto/io.smkeyd.varlink).
 *
 *   varlink-gen c OUTPUT INPUT SYMBOL [INPUT SYMBOL]...
 *       a C file with, per INPUT, const char SYMBOL[] = the file byte for byte
 *   varlink-gen errors OUTPUT INPUT MACRO [INPUT MACRO]...
 *       a header with, per INPUT, #define MACRO_PREFIX "iface." and for each
 *       "error Name (...)" line #define MACRO_NAME_IN_UPPER_SNAKE "iface.Name"
 *
 * The description is checked line by line first (the varlink grammar's line
 * shapes: comments, one interface line, type/method/error definitions with
 * balanced parentheses and their member lines); a line that breaks it is
 * refused as INPUT:LINE: what is wrong, and nothing is written: the output
 * is written to OUTPUT.tmp and renamed, so a failed run leaves no half file.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ERRORS 256
#define MAX_NAME 128

struct desc {
	const char *path;
	char *text; /* the whole file, NUL-terminated */
	size_t len;
	char iface[MAX_NAME];
	char errors[MAX_ERRORS][MAX_NAME];
	size_t n_errors;
};

static char tmp_path[4096]; /* the output being written, removed on failure */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("varlink-gen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (tmp_path[0])
		remove(tmp_path);
	exit(1);
}

static void read_file(struct desc *d)
{
	FILE *f = fopen(d->path, "rb");
	size_t cap = 4096;

	if (!f)
		die("%s: cannot open: %s", d->path, strerror(errno));
	d->text = malloc(cap);
	d->len = 0;
	for (;;) {
		size_t n;

		if (!d->text)
			die("%s: out of memory", d->path);
		n = fread(d->text + d->len, 1, cap - d->len - 1, f);
		d->len += n;
		if (d->len < cap - 1)
			break;
		cap *= 2;
		d->text = realloc(d->text, cap);
	}
	if (ferror(f))
		die("%s: read error", d->path);
	fclose(f);
	d->text[d->len] = '\0';
	if (strlen(d->text) != d->len)
		die("%s: contains a NUL byte", d->path);
	if (d->len == 0 || d->text[d->len - 1] != '\n')
		die("%s: does not end with a newline", d->path);
}

/* [A-Z][A-Za-z0-9]*: a type, method or error name. Returns its length. */
static size_t member_name(const char *s)
{
	size_t n = 0;

	if (!isupper((unsigned char)s[0]))
		return 0;
	while (isalnum((unsigned char)s[n]))
		n++;
	return n;
}

/* [a-z]([-]*[a-z0-9])* (\.[a-z0-9]([-]*[a-z0-9])*)+ : an interface name. */
static int iface_name_valid(const char *s)
{
	int labels = 0;

	for (;;) {
		if (!(islower((unsigned char)*s) || (labels > 0 && isdigit((unsigned char)*s))))
			return 0;
		s++;
		while (islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-') {
			if (*s == '-' && (s[1] == '.' || s[1] == '\0'))
				return 0;
			s++;
		}
		labels++;
		if (*s == '\0')
			return labels >= 2;
		if (*s != '.')
			return 0;
		s++;
	}
}

/* Characters a definition's body may hold: field names, types, punctuation. */
static int body_char(char c)
{
	return isalnum((unsigned char)c) || strchr(" _:?[](),->", c) != NULL;
}

/* Track the parentheses of a definition's text; refuse anything else. */
static void body(const struct desc *d, size_t line, const char *s, int *depth)
{
	for (; *s; s++) {
		if (!body_char(*s))
			die("%s:%zu: unexpected character '%c' in a definition", d->path, line, *s);
		if (*s == '(')
			(*depth)++;
		else if (*s == ')' && --(*depth) < 0)
			die("%s:%zu: ')' closes nothing", d->path, line);
	}
}

static void add_error(struct desc *d, size_t line, const char *name, size_t n)
{
	size_t i;

	if (n >= MAX_NAME)
		die("%s:%zu: error name longer than %d bytes", d->path, line, MAX_NAME - 1);
	for (i = 0; i < d->n_errors; i++)
		if (strlen(d->errors[i]) == n && memcmp(d->errors[i], name, n) == 0)
			die("%s:%zu: error %.*s defined twice", d->path, line, (int)n, name);
	if (d->n_errors == MAX_ERRORS)
		die("%s:%zu: more than %d errors", d->path, line, MAX_ERRORS);
	memcpy(d->errors[d->n_errors], name, n);
	d->errors[d->n_errors][n] = '\0';
	d->n_errors++;
}

/* A line at the top level: empty, a comment, the interface line, or the
 * first line of a type, method or error definition. */
static void top_line(struct desc *d, size_t line, char *s, int *depth)
{
	static const char *const kinds[] = {"type ", "method ", "error "};
	size_t k, n;

	if (*s == '\0' || strcmp(s, "#") == 0 || strncmp(s, "# ", 2) == 0)
		return;
	if (strncmp(s, "interface ", 10) == 0) {
		if (d->iface[0])
			die("%s:%zu: a second interface line", d->path, line);
		if (!iface_name_valid(s + 10) || strlen(s + 10) >= MAX_NAME)
			die("%s:%zu: invalid interface name", d->path, line);
		strcpy(d->iface, s + 10);
		return;
	}
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (strncmp(s, kinds[k], strlen(kinds[k])) == 0)
			break;
	if (k == sizeof(kinds) / sizeof(kinds[0]))
		die("%s:%zu: expected a comment, interface, type, method or error line", d->path,
		    line);
	if (!d->iface[0])
		die("%s:%zu: %sbefore the interface line", d->path, line, kinds[k]);
	s += strlen(kinds[k]);
	n = member_name(s);
	if (n == 0)
		die("%s:%zu: %sname must start with an upper-case letter", d->path, line, kinds[k]);
	if (k == 2)
		add_error(d, line, s, n);
	s += n;
	if (*s == ' ')
		s++;
	if (*s != '(')
		die("%s:%zu: expected '(' after the name", d->path, line);
	body(d, line, s, depth);
}

static void check(struct desc *d)
{
	char *p = d->text, *nl;
	size_t line = 0;
	int depth = 0;

	for (; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		char *q;

		line++;
		*nl = '\0';
		for (q = p; *q; q++)
			if (iscntrl((unsigned char)*q))
				die("%s:%zu: control character 0x%02x", d->path, line,
				    (unsigned char)*q);
		if (q > p && q[-1] == ' ')
			die("%s:%zu: trailing space", d->path, line);
		if (depth == 0) {
			top_line(d, line, p, &depth);
		} else {
			q = p + strspn(p, " ");
			if (*q != '#')
				body(d, line, q, &depth);
		}
		*nl = '\n';
	}
	if (depth != 0)
		die("%s:%zu: end of file inside a definition (unbalanced '(')", d->path, line);
	if (!d->iface[0])
		die("%s: no interface line", d->path);
}

static FILE *open_out(const char *out)
{
	char tmp[sizeof(tmp_path)];
	FILE *f;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", out) >= sizeof(tmp))
		die("%s: path too long", out);
	f = fopen(tmp, "w");
	if (!f)
		die("%s: cannot create: %s", tmp, strerror(errno));
	memcpy(tmp_path, tmp, sizeof(tmp));
	return f;
}

static void close_out(FILE *f, const char *out)
{
	if (ferror(f) | fclose(f))
		die("%s: write error", tmp_path);
	if (rename(tmp_path, out) != 0)
		die("%s: cannot rename to %s: %s", tmp_path, out, strerror(errno));
	tmp_path[0] = '\0';
}

static void c_identifier(const char *s, const char *what)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!(isalpha((unsigned char)s[i]) || s[i] == '_' ||
		      (i > 0 && isdigit((unsigned char)s[i]))))
			break;
	if (i == 0 || s[i] != '\0')
		die("%s %s is not a C identifier", what, s);
}

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

/* The file as one C string, a literal per line. */
static void write_c(FILE *f, const struct desc *d, const char *symbol)
{
	const char *p;

	fprintf(f, "\n/* %s */\nconst char %s[] =", base_name(d->path), symbol);
	for (p = d->text; *p; p++) {
		if (p == d->text || p[-1] == '\n')
			fputs("\n\t\"", f);
		if (*p == '\n')
			fputs("\\n\"", f);
		else if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if ((unsigned char)*p >= 0x80)
			fprintf(f, "\\%03o", (unsigned char)*p);
		else
			fputc(*p, f);
	}
	fputs(";\n", f);
}

/* "InvalidParameter" -> "INVALID_PARAMETER" */
static void upper_snake(char *dst, size_t cap, const char *name)
{
	size_t i, o = 0;

	for (i = 0; name[i] && o + 2 < cap; i++) {
		unsigned char c = (unsigned char)name[i];

		if (i > 0 && isupper(c) &&
		    (!isupper((unsigned char)name[i - 1]) ||
		     (name[i + 1] && islower((unsigned char)name[i + 1]))))
			dst[o++] = '_';
		dst[o++] = (char)toupper(c);
	}
	dst[o] = '\0';
}

static void write_errors(FILE *f, const struct desc *d, const char *macro)
{
	char name[2 * MAX_NAME];
	size_t i;

	fprintf(f, "\n/* %s */\n#define %s_PREFIX \"%s.\"\n", base_name(d->path), macro, d->iface);
	for (i = 0; i < d->n_errors; i++) {
		upper_snake(name, sizeof(name), d->errors[i]);
		fprintf(f, "#define %s_%s \"%s.%s\"\n", macro, name, d->iface, d->errors[i]);
	}
}

int main(int argc, char **argv)
{
	char guard[256];
	int c_mode, i;
	FILE *f;

	if (argc < 5 || argc % 2 == 0 ||
	    (strcmp(argv[1], "c") != 0 && strcmp(argv[1], "errors") != 0))
		die("usage: varlink-gen c|errors OUTPUT INPUT NAME [INPUT NAME]...");
	c_mode = strcmp(argv[1], "c") == 0;
	upper_snake(guard, sizeof(guard), base_name(argv[2]));
	for (i = 0; guard[i]; i++)
		if (!isalnum((unsigned char)guard[i]))
			guard[i] = '_';
	f = open_out(argv[2]);
	fputs("/* Generated by varlink-gen (proto/gen/varlink_gen.c) from the interface\n"
	      " * descriptions in proto/; do not edit. */\n",
	      f);
	if (c_mode)
		fputs("#include \"proto/varlink.h\"\n", f);
	else
		fprintf(f, "#ifndef SMK_%s\n#define SMK_%s\n", guard, guard);
	for (i = 3; i < argc; i += 2) {
		struct desc *d = calloc(1, sizeof(*d));

		if (!d)
			die("out of memory");
		d->path = argv[i];
		c_identifier(argv[i + 1], "NAME");
		read_file(d);
		check(d); /* splits lines in place and restores them */
		if (c_mode)
			write_c(f, d, argv[i + 1]);
		else
			write_errors(f, d, argv[i + 1]);
		free(d->text);
		free(d);
	}
	if (!c_mode)
		fputs("\n#endif\n", f);
	close_out(f, argv[2]);
	return 0;
}

/* smkey: one entry point per sub-command, each in its own file. */
#ifndef SMK_CLIENT_H
#define SMK_CLIENT_H

/* Each returns the process exit status: 0 success, 1 the thing checked does
 * not hold, 2 usage or input error. */
typedef int (*smkey_cmd_fn)(int argc, char **argv);
int cmd_cvc(int argc, char **argv);    /* cmd_cvc.c */
int cmd_policy(int argc, char **argv); /* cmd_policy.c */
int cmd_card(int argc, char **argv);   /* cmd_card.c */

#endif

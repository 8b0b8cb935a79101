/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * daemon/slots.c: who gives up a client slot when every slot is taken. A
 * client the policies name always gets the slot of an idle or unfinished
 * connection of a peer they do not name; otherwise the uid with the most
 * connections gives one up, only if it holds two more than the newcomer's
 * uid; a call in flight is never taken, nor the newcomer's own uid's.
 */
#include "daemon/slots.h"
#include "tests/lib/testutil.h"

#define IDLE(u, n)                                                                                 \
	{                                                                                          \
		(u), (n), 1, 0                                                                     \
	}
#define PART(u, n)                                                                                 \
	{                                                                                          \
		(u), (n), 1, 1                                                                     \
	}
#define BUSY(u, n)                                                                                 \
	{                                                                                          \
		(u), (n), 0, 0                                                                     \
	}
#define N(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(named_newcomer_takes_an_unnamed_slot)
{
	/* uid 1000 (named) holds more, but uid 65534 is named by nothing */
	const slot_info s[] = {IDLE(1000, 1), IDLE(1000, 1), IDLE(1000, 1), BUSY(65534, 0),
			       IDLE(65534, 0)};

	ck_assert_int_eq(slots_pick(s, N(s), 2000, 1), 4);
	/* an unnamed newcomer gets nothing from the unnamed one (1 vs 0 + 2
	 * needed) but one of uid 1000's (3 >= 0 + 2), the oldest */
	ck_assert_int_eq(slots_pick(s, N(s), 2001, 0), 0);
}
END_TEST

START_TEST(heaviest_uid_gives_up_an_unfinished_request_first)
{
	const slot_info s[] = {IDLE(7, 0), IDLE(7, 0), PART(7, 0),
			       PART(7, 0), IDLE(8, 0), IDLE(8, 0)};

	/* uid 7 holds 4, uid 8 holds 2: the newcomer takes uid 7's oldest
	 * unfinished request */
	ck_assert_int_eq(slots_pick(s, N(s), 9, 0), 2);
}
END_TEST

START_TEST(no_slot_to_take)
{
	const slot_info busy[] = {BUSY(7, 0), BUSY(7, 0), BUSY(7, 0)};
	const slot_info own[] = {IDLE(9, 0), IDLE(9, 0), IDLE(9, 0)};
	const slot_info near[] = {IDLE(7, 0), IDLE(7, 0), IDLE(7, 0), IDLE(9, 0), IDLE(9, 0)};
	const slot_info near_named[] = {IDLE(7, 1), IDLE(7, 1), IDLE(7, 1), IDLE(9, 1), IDLE(9, 1)};

	/* every connection has a call in flight */
	ck_assert_int_eq(slots_pick(busy, N(busy), 9, 1), -1);
	/* a uid never takes its own slots */
	ck_assert_int_eq(slots_pick(own, N(own), 9, 1), -1);
	/* 3 against 2: taking one would let uid 7 take it back */
	ck_assert_int_eq(slots_pick(near, N(near), 9, 0), -1);
	/* unless the newcomer is named and uid 7 is not */
	ck_assert_int_eq(slots_pick(near, N(near), 9, 1), 0);
	/* between named peers only the count decides */
	ck_assert_int_eq(slots_pick(near_named, N(near_named), 9, 1), -1);
	ck_assert_int_eq(slots_pick(near, 0, 9, 1), -1);
}
END_TEST

START_TEST(slowloris_table)
{
	slot_info s[64];
	size_t i;

	/* one unnamed uid holds the whole table, trickling requests */
	for (i = 0; i < 64; i++)
		s[i] = (slot_info)PART(65534, 0);
	ck_assert_int_eq(slots_pick(s, 64, 1, 1), 0);
	ck_assert_int_eq(slots_pick(s, 64, 2, 0), 0);
	/* and the same table held by a uid a policy names, by calls in flight
	 * except the last one */
	for (i = 0; i < 64; i++)
		s[i] = (slot_info)BUSY(1000, 1);
	s[63] = (slot_info)IDLE(1000, 1);
	ck_assert_int_eq(slots_pick(s, 64, 2, 0), 63);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("slots");
	TCase *tc = tcase_create("pick");

	tcase_add_test(tc, named_newcomer_takes_an_unnamed_slot);
	tcase_add_test(tc, heaviest_uid_gives_up_an_unfinished_request_first);
	tcase_add_test(tc, no_slot_to_take);
	tcase_add_test(tc, slowloris_table);
	suite_add_tcase(s, tc);
	return tu_run(s);
}

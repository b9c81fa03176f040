from operators.llm.limiter import Reservation, Schedule


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_rpm_spaces_requests_after_the_burst():
    clock = Clock()
    schedule = Schedule(rpm=60, burst_s=2.0, clock=clock)
    delays = schedule.reserve([Reservation(1, 0.0)] * 5)
    # 2 s of burst at 1 request/s: the first three go now, then one per second.
    assert delays == [0.0, 0.0, 0.0, 1.0, 2.0]


def test_rpm_holds_the_rate_over_a_minute():
    clock = Clock()
    schedule = Schedule(rpm=600, burst_s=1.0, clock=clock)
    sent = 0
    for _ in range(6000):  # a client asking every 10 ms for 60 s
        delay = schedule.reserve([Reservation(1, 0.0)])[0]
        if delay <= 0.0:
            sent += 1
        else:
            schedule.req_tat -= schedule.req_interval  # not sent: give the slot back
        clock.now += 0.01
    assert abs(sent - 600) <= 600 * 0.05


def test_tpm_counts_tokens_and_settles_with_real_usage():
    clock = Clock()
    schedule = Schedule(tpm=6000, burst_s=0.0, clock=clock)  # 100 tokens per second
    first, second = schedule.reserve([Reservation(500, 0.0), Reservation(500, 0.0)])
    assert first == 0.0 and second == 5.0
    schedule.settle(-400, 0.0, 0.0, 100)  # the first used 100 of its 500
    assert schedule.reserve([Reservation(100, 0.0)])[0] == 6.0
    assert schedule.totals()["tokens"] == 100


def test_cooldown_delays_every_reservation():
    clock = Clock()
    schedule = Schedule(clock=clock)
    schedule.cooldown(3.0)
    assert schedule.reserve([Reservation(1, 0.0)]) == [3.0]
    clock.now += 5
    assert schedule.reserve([Reservation(1, 0.0)]) == [0.0]


def test_budget_by_requests_and_by_cost():
    schedule = Schedule(max_requests=2, clock=Clock())
    assert [d is None for d in schedule.reserve([Reservation(1, 0.0)] * 3)] == [False, False, True]
    schedule = Schedule(max_cost_usd=1.0, clock=Clock())
    assert schedule.reserve([Reservation(1, 0.6)])[0] == 0.0
    assert schedule.reserve([Reservation(1, 0.6)])[0] is None  # 0.6 committed + 0.6 > 1.0
    schedule.settle(0, 0.6, 0.1, 10)  # it really cost 0.1
    assert schedule.reserve([Reservation(1, 0.6)])[0] == 0.0
    assert schedule.totals()["denied"] == 1


def test_requests_in_flight_are_started_minus_ended_with_or_without_a_reservation():
    schedule = Schedule(rpm=60, clock=Clock())
    schedule.reserve([Reservation(1, 0.0)] * 3)
    schedule.settle(0, 0.0, 0.0, 10, attempts=1)  # one of the three ended
    assert schedule.totals()["in_flight"] == 2
    schedule.settle(0, 0.0, 0.0, 0, unreserved=4)  # clients with no rate limit reserve nothing
    schedule.settle(0, 0.0, 0.0, 0, attempts=5)
    assert schedule.totals()["requests"] == 7 and schedule.totals()["in_flight"] == 1

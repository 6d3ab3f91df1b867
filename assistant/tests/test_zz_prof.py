import cProfile, pstats, time, io, os
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from assistant import triggers, turns
from assistant.models import Turn
from assistant.tests.fake_llm import Text
from assistant.tests.test_turns import config_for, main_session, contact, llm  # noqa
from messaging.models import Message
from messaging.tests.factories import MessageFactory
from messaging.tests.fake_bridge import FakeBridgeServer

pytestmark = pytest.mark.django_db


def test_prof(main_session, contact, llm, settings):
    bridge = FakeBridgeServer().__enter__()
    settings.WHATSAPP_BACKEND = "zapw"
    settings.WHATSAPP_BRIDGE_URL = bridge.url
    config_for(contact, llm)
    MessageFactory.create_batch(30, session=main_session, user=contact, direction="incoming")
    ids = []
    for i in range(40):
        trigger = MessageFactory(
            session=main_session,
            user=contact,
            direction="incoming",
            chat_jid=f"55119{i:08d}@s.whatsapp.net",
        )
        ids += triggers.turns_create(Message.objects.filter(pk=trigger.pk))
    Turn.objects.update(due_at=timezone.now())
    turns.turn_run(turn_id=ids.pop())
    prof = cProfile.Profile()
    own = []
    for tid in ids[:30]:
        t = time.perf_counter()
        if os.environ.get("PROF"):
            prof.enable()
        with CaptureQueriesContext(connection) as q:
            turn = turns.turn_run(turn_id=tid)
        prof.disable()
        total = (time.perf_counter() - t) * 1000
        assert turn.state == "replied", turn.reason
        qt = sum(float(x["time"]) for x in q.captured_queries) * 1000
        own.append((total - turn.provider_ms, turn.provider_ms, len(q), qt))
    own.sort()
    print("own/provider/nq/qtime", own[len(own) // 2], own)
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(
        "assistant|messaging|core|llm", 60
    )
    print(s.getvalue())
    for x in q.captured_queries:
        print(x["time"], x["sql"][:150])

"""``%%runpod chat`` in a real IPython shell against the local ``llm`` endpoint: a
conversation across cells, a cell run again asking its turn again, the flags, and the reply
as a reader sees it (printed as it streams in a terminal; Markdown in a live or headless
notebook, with a Cancel button that stops the server's job)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rp_jupyter.local import LocalServer
from tests.notebook.recording import WIDGET_VIEW, click, wait_until

FAST = "--param token_delay=0"


@pytest.fixture(scope="module")
def llm_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        server.add_endpoint("llm", "llm", workers=1)
        server.add_endpoint("plain", "llm", workers=1, openai_route=False)
        server.start()
        for handle in server.endpoints.values():
            handle.wait_ready(timeout=60)
        yield server


@pytest.fixture
def chat_env(llm_server, monkeypatch):
    for handle in llm_server.endpoints.values():
        handle.reset_stats()
    monkeypatch.setenv("RUNPOD_ENDPOINT_BASE_URL", llm_server.base_url)
    monkeypatch.setenv("RUNPOD_ENDPOINT_ID", "llm")
    return llm_server


def ok(run):
    assert run.error is None, f"{run.error}\n{run.stdout}\n{run.stderr}"
    return run


def user_contents(reply) -> list[str]:
    return [m["content"] for m in reply.messages if m["role"] == "user"]


# -- a conversation in a real shell -------------------------------------------------------------


def test_a_conversation_goes_on_across_chat_cells_and_prints_as_it_streams(ip, chat_env):
    first = ok(ip.run(f"%%runpod chat --max-tokens 12 --param seed=3 {FAST} -o talk\n"
                      "What do rivers carry?"))
    reply = first.value
    assert reply.status == "COMPLETED" and reply.text
    assert first.stdout.startswith(reply.text + "\n")  # printed as it came, then the footer
    assert "llm · rp-jupyter/fake-llm" in first.stdout and "12 out" in first.stdout
    assert "first token" in first.stdout and "tokens/s" in first.stdout

    ip.user_ns["lake"] = "lakes"
    second = ok(ip.run(f"%%runpod chat --max-tokens 6 {FAST} -o talk\nAnd {{{{ lake }}}}?"))
    assert second.value.messages == [
        {"role": "user", "content": "What do rivers carry?"},
        {"role": "assistant", "content": reply.text},
        {"role": "user", "content": "And lakes?"},
    ]
    talk = ip.user_ns["talk"]
    assert talk.reply == second.value.text and len(talk.messages) == 4

    shown = ok(ip.run("%runpod chat --history talk")).stdout
    assert "Conversation 'talk' with llm: 2 turn(s)" in shown
    assert "1. You: What do rivers carry?" in shown and reply.text in shown
    assert "2. You: And lakes?" in shown and second.value.text in shown


def test_chat_cells_without_a_name_share_the_endpoints_conversation_until_new(ip, chat_env):
    ok(ip.run(f"%%runpod chat --max-tokens 4 {FAST}\nOne"))
    two = ok(ip.run(f"%%runpod chat llm --max-tokens 4 {FAST}\nTwo")).value
    assert user_contents(two) == ["One", "Two"]
    fresh = ok(ip.run(f"%%runpod chat --new --system 'Be brief.' --max-tokens 4 {FAST}\n"
                      "Three")).value
    assert fresh.messages == [{"role": "system", "content": "Be brief."},
                              {"role": "user", "content": "Three"}]
    after = ok(ip.run(f"%%runpod chat --max-tokens 4 {FAST}\nFour")).value
    assert after.messages[0]["content"] == "Be brief." and user_contents(after) == [
        "Three", "Four"]
    history = ok(ip.run("%runpod chat --history")).stdout
    assert "system: Be brief." in history and "One" not in history


def test_running_an_earlier_chat_cell_again_asks_its_turn_again(ip, chat_env):
    def cell(cell_id: str, message: str):
        run = ip.shell.run_cell(f"%%runpod chat --max-tokens 4 {FAST} -o c\n{message}",
                                store_history=True, cell_id=cell_id)
        assert run.error_in_exec is None
        return run.result

    cell("cell-a", "One")
    cell("cell-b", "Two")
    cell("cell-c", "Three")
    again = cell("cell-b", "Two, put another way")
    assert user_contents(again) == ["One", "Two, put another way"]
    talk = ip.user_ns["c"]
    assert [t.key for t in talk.turns] == ["cell-a", "cell-b"]
    assert [t.question["content"] for t in talk.branches[0]] == ["Two", "Three"]
    below = cell("cell-c", "Three")  # the cell below, run again, follows the new turn
    assert user_contents(below) == ["One", "Two, put another way", "Three"]


def test_without_cell_ids_every_chat_cell_adds_a_turn(ip, chat_env):
    for word in ("One", "One"):
        ok(ip.run(f"%%runpod chat --max-tokens 3 {FAST} -o c\n{word}"))
    assert [t.question["content"] for t in ip.user_ns["c"].turns] == ["One", "One"]


def test_a_chat_cell_on_an_endpoint_without_the_route_says_it_went_to_run(ip, chat_env):
    run = ok(ip.run(f"%%runpod chat plain --max-tokens 5 {FAST}\nHello"))
    assert run.value.note and "no OpenAI route" in run.stdout
    assert chat_env.endpoint("plain").request_count("run") == 1


def test_a_sweep_asks_the_turn_once_per_value_and_leaves_the_conversation(ip, chat_env):
    ok(ip.run(f"%%runpod chat --max-tokens 4 {FAST} -o c\nOne"))
    run = ok(ip.run(f"%%runpod chat --max-tokens 5 {FAST} -o c "
                    "--sweep temperature=0,1 --sweep seed=1,2\nName a river"))
    sweep = run.value
    rows = sweep.result(timeout=60)
    assert list(rows["temperature"]) == [0, 0, 1, 1] and set(rows["status"]) == {"COMPLETED"}
    assert rows["output"][0] == rows["output"][1] != rows["output"][2]  # greedy, then seeded
    assert all(user_contents(j) == ["One", "Name a river"] for j in sweep.jobs)
    assert len(ip.user_ns["c"].turns) == 1


@pytest.mark.parametrize("line, body, said", [
    ("chat --temperature warm", "Hi", "--temperature 'warm': give a number"),
    ("chat --max-tokens 0", "Hi", "--max-tokens '0'"),
    ("chat --param seed", "Hi", "write KEY=VALUE"),
    ("chat --param messages=[]", "Hi", "--param messages"),
    ("chat --param seed=1 --param seed=2", "Hi", "seed is given twice"),
    ("chat -o 2x", "Hi", "--out"),
    ("chat", "   ", "put %%runpod chat on a cell's first line"),
    ("chat --history", "Hi", "--history shows a conversation"),
])
def test_bad_chat_cells_say_what_to_fix_and_send_nothing(ip, chat_env, line, body, said):
    run = ip.run(f"%%runpod {line}\n{body}")
    assert run.error is not None and said in str(run.error)
    assert chat_env.endpoint("llm").request_count() == 0


def test_chat_as_a_line_magic_asks_for_a_cell(ip, chat_env):
    run = ip.run("%runpod chat llm")
    assert "put %%runpod chat on a cell's first line" in str(run.error)
    assert "No conversation with endpoint 'llm' yet" in ok(ip.run("%runpod chat --history")).stdout


def test_help_chat_describes_the_command(ip, chat_env):
    shown = ok(ip.run("%runpod help chat")).stdout
    for flag in ("--model", "--system", "--temperature", "--max-tokens", "--param", "--new",
                 "--history", "--sweep"):
        assert flag in shown
    assert "%%runpod chat" in ok(ip.run("%runpod help")).stdout


def test_a_chat_reply_is_priced_counted_and_held_to_the_budget_like_a_job(ip, chat_env):
    import rp_jupyter

    ok(ip.run("%runpod price llm 0.01"))
    try:
        first = ok(ip.run("%%runpod chat --max-tokens 10 --param token_delay=0.02\nHi"))
        reply = first.value
        assert reply.cost.known and reply.cost.dollars > 0
        assert reply.cost.describe() in first.stdout  # the footer says what it cost
        assert "llm" in ok(ip.run("%runpod cost")).stdout
        ok(ip.run(f"%runpod budget {reply.cost.dollars / 2}"))
        sent = chat_env.endpoint("llm").request_count("openai")
        refused = ip.run(f"%%runpod chat {FAST}\nAgain")
        assert refused.error is not None
        assert "is used up" in refused.stdout + refused.stderr
        assert "was not sent" in refused.stdout + refused.stderr
        assert chat_env.endpoint("llm").request_count("openai") == sent
    finally:
        rp_jupyter.budget(None, per_day=None)
        ok(ip.run("%runpod price llm --clear"))


@pytest.mark.timeout(90)
def test_interrupting_a_chat_cell_in_a_terminal_cancels_the_reply_in_one_line(ip, chat_env):
    from tests.notebook.test_interrupts_and_cancels import interrupt_when, interrupted_lines

    known = len(ip.magics.session_jobs)

    def streaming() -> bool:
        jobs = ip.magics.session_jobs[known:]
        return bool(jobs) and bool(jobs[-1].text)

    watcher = interrupt_when(streaming)
    run = ip.run("%%runpod chat --max-tokens 2000 --param token_delay=0.05\nA long story")
    watcher.join()
    assert isinstance(run.error, KeyboardInterrupt)
    reply = ip.magics.session_jobs[-1]
    assert reply.status == "CANCELLED" and reply.text  # what came before the stop is kept
    assert interrupted_lines(run) == [f"Interrupted: cancelled reply {reply.id} on endpoint llm"]
    assert "Traceback" not in run.stdout + run.stderr
    server = chat_env.endpoint("llm")
    wait_until(lambda: server.job_record(reply.server_job_id)["status"] == "CANCELLED", 10,
               "the server to cancel its job")


# -- what a notebook shows ----------------------------------------------------------------------


@pytest.fixture
def notebook(frontend, chat_env):
    frontend.shell.extension_manager.load_extension("rp_jupyter")
    yield frontend
    frontend.shell.extension_manager.unload_extension("rp_jupyter")


def markdown_displays(recorder) -> list[dict]:
    return [m for m in recorder.displays() if "text/markdown" in m["data"]]


def panel_display_id(recorder) -> str:
    """The display id of the cell's live panel (its widget view)."""
    (panel,) = [m for m in recorder.of_kind("display") if WIDGET_VIEW in m["data"]]
    return panel["display_id"]


def streamed_markdown(recorder) -> list[str]:
    """Every Markdown text the panel's Output widget held, in order."""
    found = []
    for message in recorder.of_kind("comm_open", "comm_msg"):
        outputs = ((message.get("data") or {}).get("state") or {}).get("outputs")
        for output in outputs or []:
            if "text/markdown" in output.get("data", {}):
                found.append(output["data"]["text/markdown"])
    return found


def test_a_live_reply_streams_in_as_markdown_and_ends_as_the_final_reply(notebook):
    reply = notebook.run_cell("%%runpod chat --max-tokens 40 --param token_delay=0.06\n"
                              "Tell me about rivers")
    recorder = notebook.recorder
    display_id = panel_display_id(recorder)
    reply.result(timeout=60)
    wait_until(lambda: "text/markdown" in recorder.latest_display(display_id)["data"], 10,
               "the final reply in the panel's place")
    texts = [md.rsplit("<sub>", 1)[0].rstrip() for md in streamed_markdown(recorder)]
    grown = [t for t in texts if t and t != reply.text]
    assert grown and all(reply.text.startswith(t) for t in grown)  # it grew in place
    final = recorder.latest_display(display_id)["data"]
    assert set(final) == {"text/markdown", "text/plain"}  # no widget left for a saved notebook
    assert final["text/markdown"].startswith(reply.text + "\n\n<sub>llm · ")
    assert "40 out" in final["text/markdown"] and final["text/plain"].startswith(reply.text)


def test_the_cancel_button_stops_the_reply_and_the_servers_job(notebook, chat_env):
    reply = notebook.run_cell("%%runpod chat --max-tokens 400 --param token_delay=0.05\n"
                              "Tell me a long story")
    wait_until(lambda: reply.text, 30, "the first words")
    click(notebook.recorder, "Cancel")
    wait_until(lambda: reply.status == "CANCELLED", 10, "the reply to be cancelled")
    server = chat_env.endpoint("llm")
    wait_until(lambda: server.job_record(reply.server_job_id)["status"] == "CANCELLED", 10,
               "the server to cancel its job")
    display_id = panel_display_id(notebook.recorder)
    wait_until(lambda: "**cancelled:**" in notebook.recorder.latest_display(display_id)
               ["data"].get("text/markdown", ""), 10, "the panel to say so")


def test_presenting_a_chat_panel_leaves_out_the_timings(notebook):
    from rp_jupyter.notebook.presentation import set_presenting

    notebook.set_mode("headless")
    set_presenting(True)
    try:
        reply = notebook.run_cell("%%runpod chat --max-tokens 6 --param token_delay=0\nHi")
    finally:
        set_presenting(False)
    final = notebook.recorder.latest_display(markdown_displays(notebook.recorder)[0]
                                             ["display_id"])["data"]
    footer = final["text/markdown"].rsplit("<sub>", 1)[1]
    assert "6 out" in footer and reply.endpoint_id in footer
    assert "first token" not in footer and "tokens/s" not in footer and reply.id not in footer
    shown_now = notebook.run_cell("%runpod chat --history")
    assert shown_now is None
    assert "first token" in notebook.recorder.displays()[-1]["data"]["text/markdown"]


def test_a_headless_cell_blocks_and_leaves_the_reply_as_markdown_and_text(notebook):
    notebook.set_mode("headless")
    reply = notebook.run_cell("%%runpod chat --max-tokens 8 --param token_delay=0\nHello")
    assert reply.is_final
    final = notebook.recorder.latest_display(markdown_displays(notebook.recorder)[0]
                                             ["display_id"])["data"]
    assert set(final) == {"text/markdown", "text/plain"}
    assert final["text/markdown"].startswith(reply.text + "\n\n<sub>")
    assert "8 out" in final["text/plain"]


def test_a_reply_shown_as_a_cells_value_is_its_markdown(notebook):
    notebook.set_mode("headless")
    silenced = notebook.run_cell("%%runpod chat --max-tokens 5 --param token_delay=0 -o c\nHi;")
    reply = notebook.shell.user_ns["c"].last
    assert silenced is None and reply.messages[-1]["content"] == "Hi;"  # sent as written
    before = len(markdown_displays(notebook.recorder))
    notebook.run_cell("c.last")
    shown = markdown_displays(notebook.recorder)[before:]
    assert shown and shown[-1]["data"]["text/markdown"].startswith(reply.text)
    notebook.run_cell("c")
    history = notebook.recorder.displays()[-1]["data"]["text/markdown"]
    assert "> Hi;" in history and reply.text in history


def test_a_chat_playground_shows_the_newest_replies_side_by_side(frontend, chat_env):
    import rp_jupyter

    endpoint = rp_jupyter.Endpoint("llm", base_url=chat_env.base_url)
    chat = rp_jupyter.Chat(endpoint, system="Be brief.", max_tokens=6, token_delay=0)
    chat.send("Name a river").result(timeout=30)
    board = rp_jupyter.playground(endpoint, chat=chat, debounce=0.05,
                                  temperature=(0.0, 2.0, 0.5), seed=[1, 2, 3])
    try:
        first = board.job
        assert first.messages == chat.last.messages and first.result(timeout=30)
        board.controls["seed"].value = 2
        wait_until(lambda: len(board.jobs) == 2, 10, "a reply for the new seed")
        second = board.jobs[-1]
        assert second.result(timeout=30) and second.text != first.text
        board.controls["seed"].value = 1
        wait_until(lambda: len(board.jobs) == 3, 10, "a reply for the first seed again")
        assert board.jobs[-1].cached and board.jobs[-1].text == first.text
        assert [reply for reply, _, _ in board.views] == board.jobs[::-1]  # newest first
        (row,) = board._slot.children
        assert len(row.children) == 3
        labels = [label.value for _, label, _ in board.views]
        assert "seed=1" in labels[0] and "seed=2" in labels[1]
        assert chat_env.endpoint("llm").request_count("openai") == 3  # 1 chat + 2 asked
    finally:
        board.close()


def test_a_chat_playground_outside_a_live_notebook_asks_once(frontend, chat_env):
    import rp_jupyter

    frontend.set_mode("headless")
    board = rp_jupyter.playground(rp_jupyter.Endpoint("llm", base_url=chat_env.base_url),
                                  chat="Name a lake", max_tokens=[4, 8], token_delay=[0])
    assert board.job.is_final and board.job.usage.output == 4
    final = frontend.recorder.displays()[-1]["data"]
    assert final["text/markdown"].startswith(board.job.text)

"""The web chat page in a real headless browser (Debian's chromium through selenium and the system chromedriver):
a typed question gets the model's greedy reply, streamed into the page; side by side, each model answers."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest
from chat_toy import ANSWERS, train_chat_model

from xuanyuan.chat import ChatSession, load_chat_model
from xuanyuan.evaluation.generation import Sampling

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
missing = [name for name in ("gradio", "selenium") if importlib.util.find_spec(name) is None]
missing += [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
pytestmark = pytest.mark.skipif(
    bool(missing),
    reason=f"missing {', '.join(missing)}: pip install 'xuanyuan-recipes[web]' selenium; "
    "bash scripts/install_browser.sh",
)
GREEDY = Sampling(max_new_tokens=16, temperature=0.0, repetition_penalty=1.1)
Q1, Q2, _ = ANSWERS


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The toy chat model, and a less trained one that answers differently."""
    return [
        load_chat_model(train_chat_model(tmp_path_factory.mktemp(f"chat_{steps}"), steps=steps), device="cpu")
        for steps in (40, 20)
    ]


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)  # never Selenium Manager's download
    yield driver
    driver.quit()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(sessions: list[ChatSession], names: list[str]):
    from xuanyuan.chat.web import build_app

    app = build_app(sessions, names).queue()
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return app, f"http://127.0.0.1:{port}/"


def open_page(browser, url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    browser.get(url)
    WebDriverWait(browser, 60).until(
        expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "#chat-input textarea"))
    )


def ask(browser, question: str, columns: int, turn: int = 1, timeout: float = 120) -> list[str]:
    """Type `question`, press Send, wait until every column shows its `turn`-th reply in full (the status line
    says done), and return those replies as the page shows them."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    browser.find_element(By.CSS_SELECTOR, "#chat-input textarea").send_keys(question)
    browser.find_element(By.ID, "chat-send").click()

    def replies(driver) -> list[str] | None:
        shown = [driver.find_elements(By.CSS_SELECTOR, f"#chat-{i} [data-testid='bot']") for i in range(columns)]
        done = driver.find_element(By.ID, "chat-status").text.startswith("done")
        return [column[-1].text for column in shown] if done and all(len(c) == turn for c in shown) else None

    return WebDriverWait(browser, timeout, poll_frequency=0.2).until(replies)


def normalized(text: str) -> str:
    return " ".join(text.split())


def test_page_shows_the_greedy_replies_of_a_conversation(models, browser):
    model, tokenizer = models[0]
    session = ChatSession(model, tokenizer, sampling=GREEDY)
    expected = [session.reply(Q1), session.reply(Q2)]  # the second with the first exchange in its prompt
    assert expected[1] != ChatSession(model, tokenizer, sampling=GREEDY).reply(Q2)  # the page must keep the history
    app, url = serve([ChatSession(model, tokenizer, sampling=GREEDY)], ["toy"])
    try:
        open_page(browser, url)
        shown = [ask(browser, question, columns=1, turn=turn)[0] for turn, question in enumerate((Q1, Q2), 1)]
    finally:
        app.close()
    assert [normalized(text) for text in shown] == [normalized(text) for text in expected]


def test_side_by_side_shows_each_models_reply(models, browser):
    sessions = [ChatSession(model, tokenizer, sampling=GREEDY) for model, tokenizer in models]
    expected = [ChatSession(model, tokenizer, sampling=GREEDY).reply(Q2) for model, tokenizer in models]
    assert expected[0] != expected[1]  # the test can tell the columns apart
    app, url = serve(sessions, ["toy", "less trained toy"])
    try:
        open_page(browser, url)
        shown = ask(browser, Q2, columns=2)
    finally:
        app.close()
    assert [normalized(text) for text in shown] == [normalized(text) for text in expected]

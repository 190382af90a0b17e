"""The page in real Chromium through the local cluster (deploy/cluster.py: real nginx running
deploy/nginx.conf in front of three workers, a Redis of its own): what a person sees
through a restart of every worker and a Redis restart."""

import pytest
from playwright.sync_api import expect

from deploy.cluster import Cluster
from tests import servers
from tests.pages import assert_no_errors, open_editor, type_at_end, without_fallback_failures

pytestmark = [pytest.mark.browser, pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cluster(worker_env, tmp_path, logged_errors):
    redis = servers.RedisServer(tmp_path).start()
    running = Cluster(3, {**worker_env, "REDIS_URL": redis.url, "TRUSTED_PROXIES": "127.0.0.1"}, tmp_path)
    running.redis = redis
    try:
        yield running.start()  # which stops what it started if it fails
        running.stop()
    finally:
        redis.stop()
    for worker in running.workers:
        logged_errors.add_process_log(worker.name, worker.log())


def test_through_a_restart_of_every_worker_the_page_comes_back_with_what_was_typed_meanwhile(
    browser, cluster
):
    writer = open_editor(browser.new_context(), f"{cluster.url}/d/deploy/")
    reader = open_editor(browser.new_context(), f"{cluster.url}/d/deploy/")
    type_at_end(writer, "before ")
    expect(reader.locator("#editor")).to_have_value("before ")

    for worker in cluster.workers:
        worker.terminate(wait=False)
    expect(writer.locator("#status")).to_have_text("reconnecting")
    type_at_end(writer, "during ")  # typed while no worker runs
    for worker in cluster.workers:
        worker.wait()
        worker.start()
    for worker in cluster.workers:
        worker.wait_ready()

    expect(writer.locator("#status")).to_have_text("live")
    expect(reader.locator("#status")).to_have_text("live")
    expect(reader.locator("#editor")).to_have_value("before during ")
    type_at_end(writer, "after")
    expect(reader.locator("#editor")).to_have_value("before during after")
    for page in (writer, reader):
        expect(page.locator("#message")).to_be_hidden()
        # Chromium logs each attempt nginx could pass to no worker; nothing else went wrong.
        refused = [
            e for e in page.errors if "Error during WebSocket handshake: Unexpected response code: 502" in e
        ]
        page.errors = [e for e in page.errors if e not in refused]
        without_fallback_failures(page)  # tried while no WebSocket opened
    assert_no_errors(writer, reader)


def test_while_redis_is_away_the_page_says_delayed_and_then_live_with_what_it_missed(browser, cluster):
    pages = [open_editor(browser.new_context(), f"{cluster.url}/d/relay/") for _ in range(4)]
    type_at_end(pages[0], "before ")
    for page in pages:
        expect(page.locator("#editor")).to_have_value("before ")

    cluster.redis.stop()
    for page in pages:
        expect(page.locator("#status")).to_have_text("delayed")
        expect(page.locator("#status")).to_have_attribute("data-status", "delayed")
    type_at_end(pages[0], "during")  # committed; its broadcast between workers is lost
    cluster.redis.start()

    for page in pages:
        expect(page.locator("#status")).to_have_text("live")
        expect(page.locator("#editor")).to_have_value("before during")
    assert_no_errors(*pages)

"""test_webhooks_web.py - the customer's Webhooks page in a real browser.

Starts stampd and a webhook receiver (test_webhooks.py's), then runs
tests/e2e/webhooks.mjs (playwright-core driving /usr/bin/chromium): a new
customer adds an endpoint pointing at the receiver, copies the secret shown
once, presses "Send test event" and sees it delivered in the log. This test
then checks on the receiving side that the webhook.test event arrived,
signed with exactly the secret the page showed.

Screenshots go to $STAMPD_TEST_TMP/../artifacts/webhooks-web. Needs node,
/usr/bin/chromium and tests/e2e/node_modules (scripts/deps.sh test).
"""

import json
import os
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_webhooks import Receiver, verify  # noqa: E402

E2E = os.path.join(harness.SOURCE_DIR, "tests", "e2e")
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(harness.TEST_TMP)), "artifacts",
                         "webhooks-web")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


class WebhooksWeb(unittest.TestCase):
    def test_browser(self):
        node = shutil.which("node")
        self.assertTrue(node, "node is missing: scripts/deps.sh test installs nodejs")
        self.assertTrue(os.access(CHROMIUM, os.X_OK), CHROMIUM + " is missing")
        self.assertTrue(os.path.isdir(os.path.join(E2E, "node_modules", "playwright-core")),
                        "tests/e2e/node_modules is missing: scripts/deps.sh test runs npm ci")
        srv = harness.Stampd("webhooks-web").init(psds=1)
        rx = Receiver()
        try:
            srv.start(processors=1, extra=["--webhook-retry-base-ms", "200"])
            shutil.rmtree(ARTIFACTS, ignore_errors=True)
            os.makedirs(ARTIFACTS)
            p = subprocess.run([node, os.path.join(E2E, "webhooks.mjs"),
                                "http://%s:%d" % (srv.host, srv.port), ARTIFACTS,
                                json.dumps({"receiver": rx.url})],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300,
                               env=dict(os.environ, CHROMIUM=CHROMIUM))
            sys.stderr.write(p.stdout.decode(errors="replace"))
            self.assertEqual(p.returncode, 0, "webhooks.mjs failed:\n" +
                             p.stderr.decode(errors="replace")[-6000:])
            with open(os.path.join(ARTIFACTS, "secret.txt")) as f:
                secret = f.read().strip()
            got = rx.events("webhook.test")
            self.assertEqual(len({g["event"]["id"] for g in got}), 1, got)
            for g in got:
                self.assertTrue(verify(secret, g["headers"]["stampd-signature"], g["body"]))
                self.assertTrue(g["event"]["livemode"])
            srv.stop()
        finally:
            srv.abandon()
            rx.close()


if __name__ == "__main__":
    harness.main()

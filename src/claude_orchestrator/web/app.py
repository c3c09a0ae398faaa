"""What the server answers, apart from HTTP itself: the pages, their live fragments (the hub's
topics), the JSON, and the message box of `--allow-send`.

Every page's live parts are containers named by a topic (`data-topic`); the page's one small
script opens one Server-Sent Events stream for its topics and puts each fragment in its place.
The fragments are whole HTML made here, from escaped data; the script never builds markup.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from claude_orchestrator.runlog import RunLog, RunNotFound, RunRecord
from claude_orchestrator.runlog.format import run_detail_json, run_json
from claude_orchestrator.web.html import Esc, document
from claude_orchestrator.web.overview import ROWS, NightCache, live_part, overview_body, utcnow
from claude_orchestrator.web.pane import Panes
from claude_orchestrator.web.timeline import label, run_body

MAX_HOURS = 24 * 30
LIVE_JS = """
(function(){
  var body=document.body, topics=(body.getAttribute('data-topics')||'').split(' ');
  var dot=document.getElementById('live-dot'), es=null, last=Date.now();
  function place(topic, html){
    var boxes=document.querySelectorAll('[data-topic]');
    for(var i=0;i<boxes.length;i++){ if(boxes[i].getAttribute('data-topic')===topic){
      boxes[i].innerHTML=html; } }
  }
  function open(){
    var q=topics.map(function(t){return 'topic='+encodeURIComponent(t);}).join('&');
    es=new EventSource('/events?'+q);
    es.addEventListener('fragment', function(e){ last=Date.now();
      var m=JSON.parse(e.data); place(m.topic, m.html);
      if(dot){dot.className='live-dot on';} });
    es.addEventListener('ping', function(){ last=Date.now(); });
    es.onopen=function(){ last=Date.now(); if(dot){dot.className='live-dot on';} };
    es.onerror=function(){ if(dot){dot.className='live-dot';} };
  }
  open();
  /* A laptop that slept may hold a dead stream that never errors: a heartbeat comes every
     15 s, so after 40 s of silence the stream is opened anew (and its topics come at once). */
  setInterval(function(){ if(Date.now()-last>40000){ es.close(); open(); last=Date.now(); } },
              5000);
})();
"""


@dataclass
class App:
    """The pages of one run log, redacted with `redact`."""

    log: RunLog
    redact: Callable[[str], str]
    allow_send: bool = False
    csrf: str = ""
    send: Callable[[RunRecord, str], str] | None = None  # hands a message to a chat's inbox
    panes: Panes = field(default_factory=Panes)
    hours: float = 24.0
    nights: NightCache = field(default_factory=NightCache)  # shared by the page and the hub

    @property
    def esc(self) -> Esc:
        return Esc(self.redact)

    # ------------------------------------------------------------------------- pages
    def overview(self, hours: float, nonce: str, every: bool = False) -> str:
        hours = min(max(hours, 1.0), MAX_HOURS)
        night = self.nights.load(self.log, utcnow(), hours)
        e = self.esc
        body = overview_body(self.log, night, e, hours=hours, screens=self._screen,
                             rows=len(night.runs) if every else ROWS)
        topic = f"overview:{hours:g}"
        body = body.replace('<div id="live">', f'<div id="live" data-topic="{topic}">', 1)
        return self._page("The night at a glance", body, [topic], nonce)

    def run_page(self, run_id: str, nonce: str, note: str = "") -> str | None:
        try:
            run = self.log.get_run(run_id)
        except RunNotFound:
            return None
        e = self.esc
        topics = [f"run:{run.id}", f"pane:{run.id}"]
        pane = self.pane_fragment(run)
        body = (f'<p><a href="/">← the night</a> · <a href="/api/runs/{e(run.id)}">JSON</a>'
                f' · <span class="live-dot" id="live-dot"></span>live</p>'
                f"{self._send_box(run, note)}"
                f'<div data-topic="{topics[0]}">{self.run_fragment(run)}</div>'
                f'<h2>Pane (read-only)</h2><div data-topic="{topics[1]}">{pane}</div>')
        return self._page(f"run {run.id}: {label(run)}", body, topics, nonce)

    def _page(self, title: str, body: str, topics: list[str], nonce: str) -> str:
        page = document(title, body, script=LIVE_JS, esc=self.esc)
        page = page.replace("<script>", f'<script nonce="{nonce}">', 1)
        page = page.replace('content="no-referrer"', 'content="same-origin"', 1)
        return page.replace("<body>", f'<body data-topics="{" ".join(topics)}">', 1)

    def _send_box(self, run: RunRecord, note: str) -> str:
        """The message box of a running chat session, with --allow-send only."""
        if not (self.allow_send and run.mode == "chat" and run.status == "running"):
            return ""
        e = self.esc
        said = f'<p class="ok" id="send-note">{e(note)}</p>' if note else ""
        return (f'<h2>Send Claude a message</h2>{said}<form class="send" method="post" '
                f'action="/runs/{e(run.id)}/send"><input type="hidden" name="csrf" '
                f'value="{e(self.csrf)}"><textarea name="text" required></textarea><button '
                'type="submit">Send (queued by the chat, delivered between turns)</button>'
                "</form>")

    # ------------------------------------------------------------------------- topics
    def render(self, topic: str) -> str | None:
        """A topic's fragment (the hub calls this from its one thread)."""
        kind, _, arg = topic.partition(":")
        if kind == "overview":
            try:
                hours = min(max(float(arg), 1.0), MAX_HOURS)
            except ValueError:
                return None
            return live_part(self.nights.load(self.log, utcnow(), hours), self.esc,
                             self._screen)
        try:
            run = self.log.get_run(arg)
        except RunNotFound:
            return None
        if kind == "run":
            return self.run_fragment(run)
        if kind == "pane":
            return self.pane_fragment(run)
        return None

    def run_fragment(self, run: RunRecord) -> str:
        log = self.log
        return run_body(run, log.turns(run.id), log.supervisor_calls(run.id),
                        log.pauses(run.id), log.verifications(run.id), self.esc)

    def pane_fragment(self, run: RunRecord) -> str:
        text = self.panes.capture(run)
        if text is None:
            return ('<p class="dim" id="pane">no pane to show: the run\'s tmux session is '
                    "not there (it ended, or runs on another machine)</p>")
        return f'<pre id="pane">{self.esc(text)}</pre>'

    def _screen(self, run: RunRecord) -> str | None:
        return self.panes.capture(run)

    # ------------------------------------------------------------------------- JSON
    def runs_json(self, limit: int, batch: str | None) -> str:
        log = self.log
        runs = log.batch_runs(batch) if batch else log.list_runs(limit=limit)
        ids = [r.id for r in runs]
        latest, first = log.latest_turns(ids), log.first_messages(ids)
        return json.dumps(self._clean([run_json(r, latest.get(r.id), first.get(r.id))
                                       for r in runs]), indent=2)

    def run_json(self, run_id: str) -> str | None:
        log = self.log
        try:
            run = log.get_run(run_id)
        except RunNotFound:
            return None
        detail = run_detail_json(run, log.turns(run.id), log.supervisor_calls(run.id),
                                 log.pauses(run.id), log.verifications(run.id))
        return json.dumps(self._clean(detail), indent=2)

    def _clean(self, value: object) -> object:
        """Every string in a JSON value redacted (JSON escapes control characters itself)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._clean(v) for v in value]
        return value

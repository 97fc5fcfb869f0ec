/*
 * batch: a batch's transaction and the decision after it (see batch.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "clock.h"
#include "deadletter.h"
#include "inbox.h"
#include "log.h"
#include "origin.h"
#include "service.h"
#include "xmalloc.h"

enum batch_next
batch_decide(enum batch_result r, size_t n, unsigned tries, bool dependency)
{
	switch (r) {
	case BATCH_DONE:
		return NEXT_SETTLE;
	case BATCH_BROKEN:
		return NEXT_RECONNECT;
	case BATCH_STOPPED:
		return NEXT_STOP;
	case BATCH_PERMANENT:
		return n > 1 ? NEXT_ISOLATE : NEXT_POISON;
	case BATCH_TRANSIENT:
		if (dependency)	/* a dependency failed: let what does not need it through */
			return n > 1 ? NEXT_ISOLATE : NEXT_RETRY_LATER;
		return tries < 2 ? NEXT_TRY_AGAIN : NEXT_RETRY_LATER;
	}
	return NEXT_RECONNECT;
}

const char *
batch_next_name(enum batch_next x)
{
	static const char *const names[] = { "settle", "try_again", "isolate", "retry_later",
		"poison", "reconnect", "stop" };

	return (unsigned)x < sizeof(names) / sizeof(names[0]) ? names[x] : "?";
}

void
batch_tx_init(struct batch_tx *t, const struct conf *cfg, const struct handler_ops *ops,
    size_t max)
{
	memset(t, 0, sizeof(*t));
	t->cfg = cfg;
	t->ops = ops;
	t->max = max;
	t->q = db_batch_new();
	outbox_batch_init(&t->out, ops->svc);
	t->valid = xcalloc(max, sizeof(*t->valid));
	t->fresh = xcalloc(max, sizeof(*t->fresh));
}

void
batch_tx_free(struct batch_tx *t)
{
	db_batch_free(t->q);
	outbox_batch_free(&t->out);
	free(t->valid);
	free(t->fresh);
	memset(t, 0, sizeof(*t));
}

/*
 * The AMQP properties type and message_id, when present, name what the body
 * holds: the console and the dead-letter tools show them, so a message must
 * not say one thing there and carry another. Absent they are no lie (raw
 * publishers may leave them out): the body alone counts. 0, or -1 with why.
 */
static int
properties_match(const struct delivery *d, const struct event *ev, char *why, size_t whylen)
{
	const char *what = NULL, *got = NULL, *want = NULL;
	char shown[80];

	if (d->type != NULL && strcmp(d->type, event_type_name(ev->type)) != 0) {
		what = "type";
		got = d->type;
		want = event_type_name(ev->type);
	} else if (d->message_id != NULL && strcmp(d->message_id, ev->id) != 0) {
		what = "message_id";
		got = d->message_id;
		want = ev->id;
	}
	if (what == NULL)
		return 0;
	envelope_printable(shown, sizeof(shown), got);
	snprintf(why, whylen, "property_mismatch: AMQP %s \"%s\" is not the body's \"%s\"",
	    what, shown, want);
	return -1;
}

void
batch_validate(struct slot *s, enum service_id svc, const struct conf *cfg)
{
	s->why[0] = '\0';
	s->out = OUT_OK;
	s->retried = origin_retry_path(&s->d, svc, cfg);
	if (s->d.dropped > 0) {
		envelope_too_large(s->d.dropped, s->why, sizeof(s->why));
		memset(&s->ev, 0, sizeof(s->ev));
		s->out = OUT_POISON;
	} else if (envelope_parse(s->d.body, s->d.len, &s->ev, s->why, sizeof(s->why)) != 0) {
		s->ev.type = EV_UNKNOWN;
		s->out = OUT_POISON;
	} else if (!service_consumes(svc, s->ev.type)) {
		snprintf(s->why, sizeof(s->why), "unexpected_type: %s is not consumed by %s",
		    event_type_name(s->ev.type), service_name(svc));
		s->out = OUT_POISON;
	} else if (properties_match(&s->d, &s->ev, s->why, sizeof(s->why)) != 0 ||
	    origin_check(&s->d, &s->ev, svc, cfg, s->why, sizeof(s->why)) != 0) {
		s->out = OUT_POISON;
	}
}

/* Round 1's own result: which events the inbox had not seen. */
static int
inbox_loaded(struct handler_ctx *h)
{
	struct batch_tx *t = h->owner;

	/* statement 0 is BEGIN, 1 the inbox claim */
	inbox_fresh(db_batch_result(t->q, 1), t->valid, t->nvalid, t->fresh);
	return 0;
}

/* A fresh context over t for one transaction, BEGIN queued. */
void
batch_begin(struct batch_tx *t, struct handler_ctx *h)
{
	memset(&t->fail, 0, sizeof(t->fail));
	memset(&t->mb, 0, sizeof(t->mb));
	outbox_batch_clear(&t->out);
	db_batch_reset(t->q);
	memset(h, 0, sizeof(*h));
	h->db = t->db;
	h->cfg = t->cfg;
	h->svc = t->ops->svc;
	h->q = t->q;
	h->out = &t->out;
	h->mb = &t->mb;
	h->keep_alive = t->keep_alive;
	h->owner = t;
	db_batch_add(t->q, NULL, "BEGIN", 0, NULL);
}

int
batch_commit(struct batch_tx *t, size_t *emitted)
{
	outbox_queue(&t->out, t->q);
	db_batch_add(t->q, NULL, "COMMIT", 0, NULL);
	if (db_batch_run(t->db, t->q) != 0)
		return -1;
	*emitted = t->out.n;
	metrics_commit(&t->mb);
	return 0;
}

enum batch_result
batch_failed(struct batch_tx *t, const struct handler_ctx *h)
{
	if (!db_ok(t->db))
		return BATCH_BROKEN;
	(void)db_exec(t->db, "ROLLBACK");
	memset(&t->mb, 0, sizeof(t->mb));	/* nothing of it happened */
	if (h->stopped)
		return BATCH_STOPPED;
	t->fail = h->fail;
	t->dependency = h->fail.class != ERR_NONE;
	if (t->fail.class == ERR_NONE) {
		t->fail.class = retry_classify_sqlstate(db_last_sqlstate(t->db));
		snprintf(t->fail.why, sizeof(t->fail.why), "%s %s", db_last_sqlstate(t->db),
		    db_last_error(t->db));
		return t->fail.class == ERR_TRANSIENT ? BATCH_TRANSIENT : BATCH_PERMANENT;
	}
	t->fail.class = ERR_TRANSIENT;	/* a dependency's failure: h->fail says so */
	return BATCH_TRANSIENT;
}

enum batch_result
batch_apply(struct batch_tx *t, struct slot *s, size_t n, size_t *emitted)
{
	struct handler_ctx h;
	double t0 = clock_s();
	size_t nvalid = 0, k = 0;

	*emitted = 0;
	for (size_t i = 0; i < n; i++)
		if (s[i].out != OUT_POISON)
			t->valid[nvalid++] = &s[i].ev;
	if (nvalid == 0)
		return BATCH_DONE;	/* all poison: no transaction */
	t->nvalid = nvalid;
	batch_begin(t, &h);
	h.loaded = inbox_loaded;
	h.fresh = t->fresh;
	inbox_queue_claim(t->q, t->valid, nvalid);
	if (t->ops->apply(&h, t->valid, nvalid) != 0 ||
	    (!h.load_done && handler_load(&h) != 0) || batch_commit(t, emitted) != 0)
		return batch_failed(t, &h);
	for (size_t i = 0; i < n; i++) {
		if (s[i].out == OUT_POISON)
			continue;
		s[i].out = t->fresh[k++] ? OUT_OK : OUT_DUP;
		log_debug("msg=\"%s\" event_id=%s type=%s order_id=%s trace_id=%.32s",
		    s[i].out == OUT_OK ? "event handled" : "duplicate event skipped", s[i].ev.id,
		    event_type_name(s[i].ev.type), s[i].ev.order_id,
		    s[i].ev.traceparent[0] ? s[i].ev.traceparent + 3 : "-");
	}
	metrics_batch_done((unsigned)n, clock_s() - t0);
	return BATCH_DONE;
}

int
batch_run_timer(struct batch_tx *t, const struct handler_timer *tm, size_t *emitted)
{
	struct handler_ctx h;
	int r;

	*emitted = 0;
	batch_begin(t, &h);
	r = tm->run(&h);
	if (r < 0 || batch_commit(t, emitted) != 0) {
		enum batch_result br = batch_failed(t, &h);

		log_warn("msg=\"timer failed\" timer=%s result=%d error=\"%s\"", tm->name, (int)br,
		    t->fail.why[0] ? t->fail.why : db_last_error(t->db));
		return -1;
	}
	return r;
}

void
batch_mark_retry(struct slot *s, size_t n, const struct retry_policy *p, const char *why,
    bool uncounted)
{
	for (size_t i = 0; i < n; i++) {
		unsigned attempts = s[i].retried ?
		    retry_attempts_of(delivery_header(&s[i].d, DEADLETTER_ATTEMPT)) : 0;

		if (s[i].out == OUT_POISON)
			continue;	/* bad whatever happens: dead-lettered now */
		/* an open circuit is not the message's failure: it spends no attempt */
		if (!uncounted)
			attempts++;
		s[i].attempt = attempts;	/* forwarding writes it to x-chorus-attempt */
		s[i].step = retry_step(p, attempts > 0 ? attempts : 1);
		s[i].out = s[i].step >= 0 ? OUT_RETRY : OUT_EXHAUSTED;
		snprintf(s[i].why, sizeof(s[i].why), "%s", why);
	}
}

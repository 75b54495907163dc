-- Topics: bind_topic, unbind_topic, publish, the topic_bindings view.
\set VERBOSITY terse
SELECT pgqrs.create_queue('billing') > 0, pgqrs.create_queue('audit') > 0, pgqrs.create_queue('eu') > 0;

SELECT pgqrs.bind_topic('orders.*', 'billing') AS bound,
       pgqrs.bind_topic('#', 'audit') AS bound_all,
       pgqrs.bind_topic('orders.eu.#', 'eu') AS bound_eu,
       pgqrs.bind_topic('*.eu.*', 'eu') AS bound_eu_again,
       pgqrs.bind_topic('orders.*', 'billing') AS bound_twice;
SELECT pattern, queue_name FROM pgqrs.topic_bindings ORDER BY pattern, queue_name;

-- "*" is one word, "#" any number (none too); a queue matched twice gets one message.
SELECT topic, pgqrs.publish(topic, jsonb_build_object('topic', topic)) AS queues
FROM (VALUES ('orders.paid'), ('orders'), ('orders.eu'), ('orders.eu.paid'), ('orders.eu.paid.late'),
             ('users.eu.x'), ('payments')) t (topic);
SELECT q.queue_name, array_agg(m.payload ->> 'topic' ORDER BY m.id) AS topics
FROM pgqrs.pgqrs_messages m JOIN pgqrs.pgqrs_queues q ON q.id = m.queue_id
GROUP BY q.queue_name ORDER BY q.queue_name;

-- A topic no queue is bound to is no error.
SELECT pgqrs.unbind_topic('#', 'audit') AS unbound, pgqrs.unbind_topic('#', 'audit') AS unbound_again;
SELECT pgqrs.publish('payments.refund', '{}') AS nobody;
SELECT pgqrs.publish(topic => 'orders.paid', payload => '{"named": true}') AS named;

-- All or nothing: one queue refusing the payload fails the publish.
SELECT pgqrs.alter_queue('eu', max_payload_bytes => 20);
SELECT count(*) AS before FROM pgqrs.pgqrs_messages \gset
SELECT error_of($$SELECT pgqrs.publish('orders.eu.paid', jsonb_build_object('x', repeat('y', 100)))$$);
SELECT count(*) = :before AS nothing_enqueued FROM pgqrs.pgqrs_messages;

-- Errors.
SELECT error_of($$SELECT pgqrs.bind_topic('orders.*', 'nope')$$);
SELECT left(pattern, 20) AS pattern, error_of(format('SELECT pgqrs.bind_topic(%L, %L)', pattern, 'billing')) AS error
FROM (VALUES (''), ('orders.'), ('.orders'), ('orders..paid'), ('orders.p*'), ('orders.#x'), ('a b'),
             ('orders.$'), (repeat('a', 256))) p (pattern);
SELECT error_of($$SELECT pgqrs.bind_topic(NULL, 'billing')$$);
SELECT error_of($$SELECT pgqrs.unbind_topic('orders.*', 'nope')$$);
SELECT topic, error_of(format('SELECT pgqrs.publish(%L, %L)', topic, '{}')) AS error
FROM (VALUES ('orders.*'), ('orders.#'), (''), ('a..b')) t (topic);
SELECT error_of($$SELECT pgqrs.publish(NULL, '{}')$$);
SELECT error_of($$SELECT pgqrs.publish('orders.paid', NULL)$$);
SELECT error_of($$SELECT pgqrs.publish('orders.paid', 'null')$$);

-- A queue with bindings is not dropped without force; with force, its bindings go too.
SELECT error_of($$SELECT pgqrs.drop_queue('billing')$$);
SELECT pgqrs.drop_queue('billing', force => true), pgqrs.drop_queue('audit', force => true),
       pgqrs.drop_queue('eu', force => true);
SELECT count(*) AS bindings FROM pgqrs.pgqrs_topic_bindings;

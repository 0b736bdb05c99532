//! One test per convention, with headers shaped as each framework writes
//! them (as the backends turn them into envelope headers).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::*;
use crate::message::bytes_value;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn read_with(headers: Value, broker: Value, body: &str, facts: Value) -> DeadLetter {
    let (h, b, f) = (obj(headers), obj(broker), obj(facts));
    read(&Input {
        headers: &h,
        broker: &b,
        body: body.as_bytes(),
        stored_at: Some(at_ms(1_795_000_000_000)),
        facts: &f,
    })
}

fn headers(h: Value) -> DeadLetter {
    read_with(h, json!({}), "{}", json!({}))
}

fn at_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn origin(kind: OriginKind, name: &str, rk: Option<&str>) -> Option<Origin> {
    Some(Origin {
        kind,
        name: name.into(),
        routing_key: rk.map(str::to_owned),
    })
}

#[test]
fn masstransit_error_queue() {
    let d = headers(json!({
        "MT-Reason": "fault",
        "MT-Fault-ExceptionType": "System.InvalidOperationException",
        "MT-Fault-Message": "card declined",
        "MT-Fault-StackTrace": "at Charge()",
        "MT-Fault-Timestamp": "2026-11-26T09:13:59.1234567Z",
        "MT-Fault-InputAddress": "rabbitmq://localhost/shop/orders?temporary=false",
        "MT-Fault-RetryCount": 3,
        "MT-Host-MachineName": "web-1",
    }));
    assert_eq!(d.convention, Some("masstransit"));
    assert_eq!(d.reason.as_deref(), Some("card declined"));
    assert_eq!(
        d.error_type.as_deref(),
        Some("System.InvalidOperationException")
    );
    assert_eq!(d.source.as_deref(), Some("orders"));
    assert_eq!(d.attempts, Some(3));
    assert_eq!(d.origin, origin(OriginKind::Queue, "orders", None));
    assert_eq!(
        d.first_death_at,
        Some(at_ms(1_795_684_439_123) + Duration::from_nanos(456_700))
    );
    // `_skipped`: no fault, no input address.
    let d = headers(json!({"MT-Reason": "dead-letter", "MT-Host-MachineName": "web-1"}));
    assert_eq!(d.convention, Some("masstransit"));
    assert_eq!(d.reason.as_deref(), Some("dead-letter"));
    assert!(d.origin.is_none());
    // On SQS the input address is an amazonsqs:// URI.
    let d = headers(json!({"MT-Fault-InputAddress": "amazonsqs://us-east-1/prod/orders"}));
    assert_eq!(d.origin, origin(OriginKind::Queue, "orders", None));
}

#[test]
fn nservicebus_on_rabbitmq_and_sqs() {
    let nsb = json!({
        "NServiceBus.FailedQ": "Sales@MACHINE",
        "NServiceBus.ExceptionInfo.ExceptionType": "System.Exception",
        "NServiceBus.ExceptionInfo.Message": "boom",
        "NServiceBus.TimeOfFailure": "2026-11-26 09:13:59:123456 Z",
        "NServiceBus.ProcessingEndpoint": "Sales",
    });
    let d = headers(nsb.clone());
    assert_eq!(d.convention, Some("nservicebus"));
    assert_eq!(d.reason.as_deref(), Some("boom"));
    assert_eq!(d.error_type.as_deref(), Some("System.Exception"));
    assert_eq!(d.source.as_deref(), Some("Sales@MACHINE"));
    assert_eq!(d.origin, origin(OriginKind::Queue, "Sales", None));
    assert_eq!(
        d.first_death_at,
        Some(at_ms(1_795_684_439_123) + Duration::from_micros(456))
    );
    // SQS: the headers as JSON in one message attribute.
    let d = headers(json!({"NServiceBus.AmazonSQS.Headers": nsb.to_string()}));
    assert_eq!(d.convention, Some("nservicebus"));
    assert_eq!(d.origin, origin(OriginKind::Queue, "Sales", None));
    // Older SQS transports: a TransportMessage body.
    let body = json!({"Headers": nsb, "Body": "e30="}).to_string();
    let d = read_with(json!({}), json!({}), &body, json!({}));
    assert_eq!(d.reason.as_deref(), Some("boom"));
}

#[test]
fn spring_kafka_binary_headers() {
    let d = headers(json!({
        "kafka_dlt-exception-fqcn": "org.springframework.kafka.listener.ListenerExecutionFailedException",
        "kafka_dlt-exception-cause-fqcn": "java.lang.NumberFormatException",
        "kafka_dlt-exception-message": "For input string: \"x\"",
        "kafka_dlt-original-topic": "orders",
        "kafka_dlt-original-partition": "\u{0}\u{0}\u{0}\u{2}",
        "kafka_dlt-original-offset": bytes_value(&42i64.to_be_bytes()),
        "kafka_dlt-original-timestamp": bytes_value(&1_700_000_000_000i64.to_be_bytes()),
        "retry_topic-attempts": "\u{0}\u{0}\u{0}\u{4}",
    }));
    assert_eq!(d.convention, Some("spring-kafka"));
    assert_eq!(d.reason.as_deref(), Some("For input string: \"x\""));
    assert_eq!(
        d.error_type.as_deref(),
        Some("org.springframework.kafka.listener.ListenerExecutionFailedException")
    );
    assert_eq!(d.attempts, Some(4));
    assert_eq!(d.origin, origin(OriginKind::Topic, "orders", None));
    // The failure time is the DLT record's, not the original's.
    assert_eq!(d.first_death_at, Some(at_ms(1_795_000_000_000)));
    let d = headers(json!({
        "x-original-topic": "payments",
        "x-exception-fqcn": "java.lang.IllegalStateException",
        "x-exception-message": "no",
    }));
    assert_eq!(d.convention, Some("spring-kafka"));
    assert_eq!(d.origin, origin(OriginKind::Topic, "payments", None));
    assert_eq!(
        d.error_type.as_deref(),
        Some("java.lang.IllegalStateException")
    );
}

#[test]
fn spring_amqp_exchange_and_default_exchange() {
    let d = headers(json!({
        "x-exception-message": "Listener threw exception",
        "x-exception-stacktrace": "org.springframework...",
        "x-original-exchange": "shop",
        "x-original-routingKey": "order.created",
    }));
    assert_eq!(d.convention, Some("spring-amqp"));
    assert_eq!(
        d.origin,
        origin(OriginKind::Exchange, "shop", Some("order.created"))
    );
    let d = headers(json!({"x-original-exchange": "", "x-original-routingKey": "orders"}));
    assert_eq!(d.origin, origin(OriginKind::Queue, "orders", None));
}

#[test]
fn kafka_connect_and_streams() {
    let d = headers(json!({
        "__connect.errors.topic": "payments",
        "__connect.errors.partition": "0",
        "__connect.errors.offset": "17",
        "__connect.errors.connector.name": "sink-1",
        "__connect.errors.task.id": "0",
        "__connect.errors.stage": "VALUE_CONVERTER",
        "__connect.errors.class.name": "org.apache.kafka.connect.json.JsonConverter",
        "__connect.errors.exception.class.name": "org.apache.kafka.connect.errors.DataException",
        "__connect.errors.exception.message": "Converting byte[] to Kafka Connect data failed",
    }));
    assert_eq!(d.convention, Some("kafka-connect"));
    assert_eq!(
        d.error_type.as_deref(),
        Some("org.apache.kafka.connect.errors.DataException")
    );
    assert_eq!(d.origin, origin(OriginKind::Topic, "payments", None));
    let d = headers(json!({
        "__streams.errors.exception": "org.apache.kafka.common.errors.SerializationException: bad",
        "__streams.errors.message": "bad",
        "__streams.errors.stacktrace": "...",
        "__streams.errors.topic": "clicks",
        "__streams.errors.partition": "1",
        "__streams.errors.offset": "5",
    }));
    assert_eq!(d.convention, Some("kafka-streams"));
    assert_eq!(d.reason.as_deref(), Some("bad"));
    assert_eq!(d.origin, origin(OriginKind::Topic, "clicks", None));
}

#[test]
fn rebus_wolverine_brighter() {
    let d = headers(
        json!({"rbs2-source-queue": "orders", "rbs2-error-details": "5 unhandled exceptions"}),
    );
    assert_eq!(d.convention, Some("rebus"));
    assert_eq!(d.reason.as_deref(), Some("5 unhandled exceptions"));
    assert_eq!(d.origin, origin(OriginKind::Queue, "orders", None));

    let d = headers(json!({
        "exception-type": "System.DivideByZeroException",
        "exception-message": "Attempted to divide by zero.",
        "exception-stack": "at Handle()",
        "failed-at": "1795000000123",
        "original-destination": "rabbitmq://queue/orders",
        "attempts": "3",
    }));
    assert_eq!(d.convention, Some("wolverine"));
    assert_eq!(d.attempts, Some(3));
    assert_eq!(d.first_death_at, Some(at_ms(1_795_000_000_123)));
    assert_eq!(d.origin, origin(OriginKind::Queue, "orders", None));
    let d = headers(json!({"exception-type": "X", "original-destination": "kafka://topic/orders"}));
    assert_eq!(d.origin, origin(OriginKind::Topic, "orders", None));
    let d =
        headers(json!({"exception-type": "X", "original-destination": "rabbitmq://exchange/shop"}));
    assert_eq!(d.origin, origin(OriginKind::Exchange, "shop", Some("")));
    let d = headers(json!({"exception-type": "X", "original-destination": "sqs://orders"}));
    assert_eq!(d.origin, origin(OriginKind::Queue, "orders", None));

    let d = headers(json!({
        "OriginalTopic": "orders",
        "RejectionReason": "DeliveryError",
        "RejectionMessage": "handler failed",
        "RejectionTimestamp": "2026-11-26T09:13:59.000+01:00",
        "HandledCount": "2",
    }));
    assert_eq!(d.convention, Some("brighter"));
    assert_eq!(d.error_type.as_deref(), Some("DeliveryError"));
    assert_eq!(d.attempts, Some(2));
    assert_eq!(d.first_death_at, Some(at_ms(1_795_680_839_000)));
    assert_eq!(d.origin, origin(OriginKind::Topic, "orders", None));
    // SQS: in the bag; the origin is the redrive policy's source queue.
    let bag = json!({"OriginalTopic": "orders-topic", "RejectionReason": "Unacceptable", "RejectionMessage": "bad"});
    let d = read_with(
        json!({"bag": bag.to_string(), "handled-count": "1"}),
        json!({}),
        "{}",
        json!({"source_queue": "orders"}),
    );
    assert_eq!(d.convention, Some("brighter"));
    assert_eq!(d.reason.as_deref(), Some("bad"));
    assert_eq!(d.attempts, Some(1));
    assert_eq!(d.origin, origin(OriginKind::Queue, "orders", None));
}

#[test]
fn aws_lambda_eventbridge_sns() {
    let body = json!({
        "version": "1.0",
        "timestamp": "2026-11-26T09:13:59.120Z",
        "requestContext": {
            "requestId": "e4b4-...",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:charge:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": {"order": 1},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "card declined", "errorType": "Error"}
    })
    .to_string();
    let d = read_with(json!({}), json!({}), &body, json!({"source_queue": "x"}));
    assert_eq!(d.convention, Some("lambda"));
    assert_eq!(d.reason.as_deref(), Some("card declined"));
    assert_eq!(d.attempts, Some(3));
    assert!(d.origin.is_none(), "a function is not a queue");
    assert!(no_origin(&d).contains("Lambda function arn:aws:lambda:"));

    let d =
        headers(json!({"RequestID": "e4b4", "ErrorCode": "200", "ErrorMessage": "Task timed out"}));
    assert_eq!(d.convention, Some("lambda"));
    assert_eq!(d.reason.as_deref(), Some("Task timed out"));
    assert_eq!(d.error_type.as_deref(), Some("200"));

    let d = read_with(
        json!({
            "RULE_ARN": "arn:aws:events:us-east-1:123456789012:rule/orders",
            "TARGET_ARN": "arn:aws:lambda:us-east-1:123456789012:function:f",
            "ERROR_CODE": "SDK_CLIENT_ERROR",
            "ERROR_MESSAGE": "Unable to invoke",
            "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
            "RETRY_ATTEMPTS": "185",
        }),
        json!({}),
        r#"{"id":"1","time":"2026-11-26T09:13:59Z","detail":{}}"#,
        json!({}),
    );
    assert_eq!(d.convention, Some("eventbridge"));
    assert_eq!(d.reason.as_deref(), Some("Unable to invoke"));
    assert_eq!(d.attempts, Some(185));
    assert_eq!(d.first_death_at, Some(at_ms(1_795_684_439_000)));
    assert!(no_origin(&d).contains("EventBridge rule arn:aws:events"));

    let body = json!({
        "Type": "Notification", "MessageId": "m1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:orders",
        "Message": "{}", "Timestamp": "2026-11-26T09:13:59.120Z",
    })
    .to_string();
    let d = read_with(json!({}), json!({}), &body, json!({}));
    assert_eq!(d.convention, Some("sns"));
    assert_eq!(
        d.source.as_deref(),
        Some("arn:aws:sns:us-east-1:123456789012:orders")
    );
    assert!(no_origin(&d).contains("SNS topic"));
}

#[test]
fn broker_native_conventions() {
    let d = headers(json!({
        "x-death": [
            {"count": 2, "reason": "expired", "queue": "orders.retry", "exchange": "retry",
             "routing-keys": ["orders"], "time": {"$timestamp": 200}},
            {"count": 3, "reason": "rejected", "queue": "orders", "exchange": "shop",
             "routing-keys": ["order.created"], "time": {"$timestamp": 100}},
        ],
        "x-first-death-queue": "orders",
        "x-first-death-reason": "rejected",
        "x-first-death-exchange": "shop",
    }));
    assert_eq!(d.convention, Some("rabbitmq"));
    assert_eq!(d.reason.as_deref(), Some("rejected"));
    assert_eq!(d.attempts, Some(5));
    assert_eq!(d.first_death_at, Some(at_ms(100_000)));
    assert_eq!(
        d.origin,
        origin(OriginKind::Exchange, "shop", Some("order.created"))
    );
    // Quorum queues count deliveries, not dead-letterings.
    let d = headers(json!({
        "x-death": [{"count": 1, "reason": "delivery_limit", "queue": "orders", "exchange": "",
                     "routing-keys": ["orders"], "time": {"$timestamp": 5}}],
        "x-delivery-count": 20,
    }));
    assert_eq!(d.attempts, Some(20));
    assert_eq!(d.origin, origin(OriginKind::Queue, "orders", None));
    // Through the default exchange, the queue it died in: not a CC or BCC
    // key's queue, which got its own copy.
    for first_death in [
        json!({"x-first-death-queue": "audit", "x-first-death-exchange": ""}),
        json!({}),
    ] {
        let mut h = json!({
            "x-death": [{"count": 1, "reason": "rejected", "queue": "audit", "exchange": "",
                         "routing-keys": ["billing", "audit"], "time": {"$timestamp": 5}}],
        });
        h.as_object_mut()
            .unwrap()
            .extend(first_death.as_object().unwrap().clone());
        let d = headers(h);
        assert_eq!(d.source.as_deref(), Some("audit"));
        assert_eq!(
            d.origin,
            origin(OriginKind::Queue, "audit", None),
            "{first_death}"
        );
    }

    let d = read_with(
        json!({}),
        json!({"DeadLetterQueueSourceArn": "arn:aws:sqs:us-east-1:000000000000:orders", "ApproximateReceiveCount": "4"}),
        "x",
        json!({}),
    );
    assert_eq!(d.convention, Some("sqs-redrive"));
    assert_eq!(d.source.as_deref(), Some("orders"));
    assert_eq!(d.attempts, Some(4));
    assert_eq!(d.origin, origin(OriginKind::Queue, "orders", None));

    let d = headers(
        json!({"Nats-Stream": "ORDERS", "Nats-Subject": "orders.new", "Nats-Sequence": "7",
                           "Nats-Time-Stamp": "2026-11-26T09:13:59.120Z"}),
    );
    assert_eq!(d.convention, Some("jetstream-republish"));
    assert_eq!(d.source.as_deref(), Some("ORDERS"));
    assert!(d.attempts.is_none());
    assert_eq!(d.origin, origin(OriginKind::Subject, "orders.new", None));

    let d = read_with(
        json!({}),
        json!({"subject": "orders.new", "advisory": {"stream": "ORDERS", "stream_seq": 3, "deliveries": 5,
               "timestamp": "2026-11-26T09:13:59.120Z"}}),
        "",
        json!({"advisory_reason": "max_deliveries"}),
    );
    assert_eq!(d.convention, Some("jetstream-advisory"));
    assert_eq!(d.reason.as_deref(), Some("max_deliveries"));
    assert_eq!(d.attempts, Some(5));
    assert_eq!(d.origin, origin(OriginKind::Subject, "orders.new", None));

    let d = headers(
        json!({"dlq-original-subject": "billing.invoices", "dlq-reason": "schema", "dlq-attempts": "2",
                           "Nats-Subject": "dlq.billing"}),
    );
    assert_eq!(d.convention, Some("dlq"));
    assert_eq!(
        d.origin,
        origin(OriginKind::Subject, "billing.invoices", None)
    );
    let d = headers(json!({"dlq-original-topic": "orders", "dlq-first-death-at": "1795000000000"}));
    assert_eq!(d.origin, origin(OriginKind::Topic, "orders", None));
    assert_eq!(d.first_death_at, Some(at_ms(1_795_000_000_000)));
}

#[test]
fn pubsub_dead_letter_policy() {
    let attrs = json!({
        "CloudPubSubDeadLetterSourceDeliveryCount": "5",
        "CloudPubSubDeadLetterSourceSubscription": "orders-sub",
        "CloudPubSubDeadLetterSourceTopicPublishTime": "2026-12-06T01:20:01.260Z",
        "CloudPubSubDeadLetterSourceSubscriptionProject": "shop",
    });
    let d = read_with(
        attrs.clone(),
        json!({}),
        "x",
        json!({"source_topic": "orders"}),
    );
    assert_eq!(d.convention, Some("pubsub-dead-letter"));
    assert_eq!(d.source.as_deref(), Some("orders-sub"));
    assert_eq!(d.attempts, Some(5));
    assert_eq!(d.reason, None);
    assert_eq!(d.first_death_at, Some(at_ms(1_795_000_000_000)));
    assert_eq!(d.origin, origin(OriginKind::Topic, "orders", None));
    // The source subscription is gone: its topic is unknown, and so is the origin.
    let d = read_with(attrs, json!({}), "x", json!({}));
    assert_eq!(d.convention, Some("pubsub-dead-letter"));
    assert_eq!(d.origin, None);
    assert!(
        no_origin(&d).contains("pubsub-dead-letter") && no_origin(&d).contains("orders-sub"),
        "{}",
        no_origin(&d)
    );
}

#[test]
fn most_specific_wins_and_the_rest_fill_gaps() {
    // A MassTransit fault that RabbitMQ dead-lettered again later.
    let d = headers(json!({
        "MT-Fault-InputAddress": "rabbitmq://localhost/orders",
        "MT-Fault-Message": "boom",
        "x-death": [{"count": 2, "reason": "expired", "queue": "orders_error", "exchange": "",
                     "routing-keys": ["orders_error"], "time": {"$timestamp": 5}}],
    }));
    assert_eq!(d.convention, Some("masstransit"));
    assert_eq!(d.reason.as_deref(), Some("boom"));
    assert_eq!(d.attempts, Some(2));
    assert_eq!(d.origin, origin(OriginKind::Queue, "orders", None));
    assert_eq!(headers(json!({"tenant": "acme"})), DeadLetter::default());
}

#[test]
fn encodings() {
    use value::*;
    assert_eq!(int_of_json(&json!("\u{0}\u{0}\u{1}\u{0}")), Some(256));
    assert_eq!(int_of_json(&json!("\u{7}")), Some(7));
    assert_eq!(int_of_json(&json!(" 12 ")), Some(12));
    assert_eq!(int_of_json(&bytes_value(&(-1i64).to_be_bytes())), None);
    assert_eq!(
        crate::message::parse_time("2026-11-26T09:13:59Z"),
        Some(at_ms(1_795_684_439_000))
    );
    assert_eq!(
        crate::message::parse_time("2026-11-26T10:13:59+01:00"),
        Some(at_ms(1_795_684_439_000))
    );
    assert_eq!(
        crate::message::parse_time("2026-11-26T08:13:59-01:00"),
        Some(at_ms(1_795_684_439_000))
    );
    assert_eq!(crate::message::parse_time("yesterday"), None);
    assert_eq!(
        nsb_time("2026-11-26 09:13:59:000000 Z"),
        Some(at_ms(1_795_684_439_000))
    );
    assert_eq!(nsb_time("2026-11-26 09:13:59 Z"), None);
    assert_eq!(last_segment("arn:aws:sqs:us-east-1:1:orders"), "orders");
    assert_eq!(last_segment("http://h:4566/000000000000/orders"), "orders");
    assert_eq!(
        endpoint("queue:orders"),
        origin(OriginKind::Queue, "orders", None)
    );
    assert_eq!(
        origin(OriginKind::Exchange, "shop", Some("k"))
            .unwrap()
            .describe(false),
        "exchange 'shop' routing key 'k'"
    );
    let q = origin(OriginKind::Queue, "orders", None).unwrap();
    assert_eq!(q.describe(true), "queue 'orders'");
    assert_eq!(q.describe(false), "orders");
}

#[test]
fn origins_a_broker_cannot_use_say_so() {
    let d = headers(json!({"exception-type": "X", "original-destination": "kafka://topic/orders"}));
    let e = origin_for(&d, &[OriginKind::Queue, OriginKind::Exchange]).unwrap_err();
    assert!(e.contains("topic 'orders'") && e.contains("--to"), "{e}");
    assert!(origin_for(&d, &[OriginKind::Topic]).is_ok());
    // A Lambda dead letter in a DLQ that also has a source queue: the queue
    // is not where it came from, so neither source nor origin is guessed.
    let d = read_with(
        json!({"RequestID": "r", "ErrorCode": "200", "ErrorMessage": "x"}),
        json!({}),
        "x",
        json!({"source_queue": "orders"}),
    );
    assert!(d.source.is_none() && d.origin.is_none());
    assert!(
        no_origin(&d).contains("a Lambda function"),
        "{}",
        no_origin(&d)
    );
    assert!(no_origin(&DeadLetter::default()).contains("pass --to"));
}

/// The dead letters of one corpus file (`tests/corpus/`, captured from the
/// frameworks' own workers by `DLQ_CAPTURE_CORPUS=1 cargo test --test
/// frameworks`), read again from their headers, broker properties and body.
fn corpus(ndjson: &str) -> Vec<(Value, DeadLetter)> {
    ndjson
        .lines()
        .map(|l| {
            let env: Value = serde_json::from_str(l).unwrap();
            let dl = read_with(
                env["headers"].clone(),
                env["broker"].clone(),
                env["body"].as_str().unwrap(),
                json!({}),
            );
            (env, dl)
        })
        .collect()
}

#[test]
fn rascal_forward_and_republish_as_captured() {
    let all = corpus(include_str!("../../tests/corpus/rascal.ndjson"));
    assert_eq!(all.len(), 5);
    for (env, d) in &all {
        let body = env["body"].as_str().unwrap();
        let n = &body[9..12];
        let forwarded = n.starts_with('1');
        let queue = env["headers"]["rascal"]["originalQueue"].as_str().unwrap();
        assert!(queue.ends_with(if forwarded { ".fwd" } else { ".rep" }));
        assert_eq!(d.convention, Some("rascal"));
        assert_eq!(d.reason, Some(format!("Order {n} not found")));
        assert_eq!(d.error_message, d.reason);
        assert_eq!(d.error_type.as_deref(), Some("E_ORDER_NOT_FOUND"));
        assert_eq!(d.source.as_deref(), Some(queue));
        assert_eq!(d.origin, origin(OriginKind::Queue, queue, None));
        // forwarded once; republished twice, then nacked (x-death too).
        assert_eq!(d.attempts, Some(if forwarded { 1 } else { 2 }));
        assert_eq!(env["headers"].get("x-death").is_none(), forwarded);
        assert_eq!(d.first_death_at.is_none(), forwarded);
        assert_eq!(d.fingerprint, all[0].1.fingerprint);
        assert!(d.fingerprint.is_some());
    }
}

#[test]
fn dramatiq_traceback_as_captured() {
    let all = corpus(include_str!("../../tests/corpus/dramatiq.ndjson"));
    assert_eq!(all.len(), 3);
    for (env, d) in &all {
        let body: Value = serde_json::from_str(env["body"].as_str().unwrap()).unwrap();
        let queue = body["queue_name"].as_str().unwrap();
        assert_eq!(d.convention, Some("dramatiq"));
        assert_eq!(
            d.reason,
            Some(format!("Order {} not found", body["args"][0]))
        );
        assert_eq!(d.error_type.as_deref(), Some("ValueError"));
        assert_eq!(d.source.as_deref(), Some(queue));
        assert_eq!(d.origin, origin(OriginKind::Queue, queue, None));
        // One retry recorded: the retried attempt and the one that failed.
        assert_eq!(body["options"]["retries"], 1);
        assert_eq!(d.attempts, Some(2));
        // When it died is x-death's.
        assert!(d.first_death_at.is_some());
        assert_eq!(d.fingerprint, all[0].1.fingerprint);
    }
    // The frames count, not the message: another actor that raises the
    // same type with the same words does not share the fingerprint.
    let (env, d) = &all[0];
    let moved = env["body"]
        .as_str()
        .unwrap()
        .replace("in charge", "in refund");
    let other = read_with(env["headers"].clone(), json!({}), &moved, json!({}));
    assert_eq!(other.reason, d.reason);
    assert_ne!(other.fingerprint, d.fingerprint);
}

#[test]
fn dramatiq_without_retries_leaves_the_rest_to_x_death() {
    let body = json!({"queue_name": "default", "actor_name": "charge", "args": [1],
        "kwargs": {}, "options": {}, "message_id": "m", "message_timestamp": 1});
    let d = read_with(
        json!({"x-death": [{"count": 1, "exchange": "", "queue": "default", "reason": "rejected",
            "routing-keys": ["default"], "time": {"$timestamp": 5}}],
            "x-first-death-queue": "default", "x-first-death-reason": "rejected"}),
        json!({}),
        &body.to_string(),
        json!({}),
    );
    assert_eq!(d.convention, Some("dramatiq"));
    assert_eq!(d.reason.as_deref(), Some("rejected"));
    assert_eq!(d.attempts, Some(1));
    assert_eq!(d.fingerprint, None);
    assert_eq!(d.origin, origin(OriginKind::Queue, "default", None));
}

#[test]
fn sqs_consumer_redrive_as_captured() {
    let text = include_str!("../../tests/corpus/sqs-consumer.ndjson");
    assert_eq!(text.lines().count(), 3);
    for line in text.lines() {
        let env: Value = serde_json::from_str(line).unwrap();
        // moto sets no DeadLetterQueueSourceArn: the backend's fact, the
        // DLQ's single source queue (ListDeadLetterSourceQueues), names it.
        let source = env["queue"].as_str().unwrap().trim_end_matches("-dlq");
        let d = read_with(
            env["headers"].clone(),
            env["broker"].clone(),
            env["body"].as_str().unwrap(),
            json!({ "source_queue": source }),
        );
        assert_eq!(d.convention, Some("sqs-redrive"), "{env}");
        assert_eq!(d.origin, origin(OriginKind::Queue, source, None));
        // sqs-consumer's receive and the redrive's: ApproximateReceiveCount.
        assert_eq!(d.attempts, Some(2));
        assert_eq!((d.reason, d.fingerprint), (None, None));
    }
}

#[test]
fn rascal_header_as_json_text_and_recovery_counts() {
    // Some clients hand nested tables over as JSON text; both read alike.
    let table = json!({"originalQueue": "orders", "error": {"message": "boom"},
        "recovery": {"orders": {"republished": 3, "immediateNack": true},
                     "orders.retry": {"forwarded": 1}}});
    for h in [table.clone(), Value::String(table.to_string())] {
        let d = headers(json!({ "rascal": h }));
        assert_eq!(d.convention, Some("rascal"));
        assert_eq!(d.attempts, Some(4));
        assert_eq!(d.reason.as_deref(), Some("boom"));
        assert_eq!(d.error_type, None);
        assert_eq!(d.origin, origin(OriginKind::Queue, "orders", None));
    }
}

#[test]
fn every_convention_that_records_an_error_fingerprints_it() {
    let spring_trace = super::trace::tests::JAVA;
    let cases = [
        json!({"MT-Fault-ExceptionType": "System.InvalidOperationException",
               "MT-Fault-Message": "Order 1 not found",
               "MT-Fault-StackTrace": super::trace::tests::DOTNET,
               "MT-Fault-InputAddress": "rabbitmq://h/orders"}),
        json!({"NServiceBus.FailedQ": "Sales", "NServiceBus.ExceptionInfo.ExceptionType": "System.Exception",
               "NServiceBus.ExceptionInfo.Message": "Order 1 not found",
               "NServiceBus.ExceptionInfo.StackTrace": super::trace::tests::DOTNET}),
        json!({"kafka_dlt-original-topic": "orders",
               "kafka_dlt-exception-fqcn": "org.springframework.kafka.listener.ListenerExecutionFailedException",
               "kafka_dlt-exception-message": "Listener failed", "kafka_dlt-exception-stacktrace": spring_trace}),
        json!({"x-original-exchange": "shop", "x-original-routingKey": "k",
               "x-exception-message": "Listener failed", "x-exception-stacktrace": spring_trace}),
        json!({"__connect.errors.topic": "t", "__connect.errors.exception.class.name": "org.apache.kafka.connect.errors.DataException",
               "__connect.errors.exception.message": "bad", "__connect.errors.exception.stacktrace": spring_trace}),
        json!({"exception-type": "System.DivideByZeroException", "exception-message": "x",
               "exception-stack": super::trace::tests::DOTNET, "original-destination": "rabbitmq://queue/orders"}),
        json!({"rbs2-source-queue": "orders", "rbs2-error-details": "Order 1 not found"}),
        json!({"RULE_ARN": "arn:r", "ERROR_CODE": "SDK_CLIENT_ERROR", "ERROR_MESSAGE": "Order 1 not found"}),
    ];
    for h in cases {
        let d = headers(h.clone());
        let fp = d.fingerprint.clone().unwrap_or_else(|| panic!("{h}"));
        // The same failure with other numbers and line numbers: same group.
        let again = headers(
            serde_json::from_str(
                &h.to_string()
                    .replace("Order 1 ", "Order 2 ")
                    .replace(":line 27", ":line 30")
                    .replace(".java:31)", ".java:33)"),
            )
            .unwrap(),
        );
        assert_eq!(again.fingerprint, Some(fp), "{h}");
    }
    // Spring AMQP records no type header: its trace's first line names it,
    // and the last `Caused by:` the root cause.
    let d = headers(json!({"x-original-exchange": "shop", "x-exception-stacktrace": spring_trace}));
    assert_eq!(
        d.error_type.as_deref(),
        Some("org.springframework.kafka.listener.ListenerExecutionFailedException")
    );
    assert!(d.error_type_matches("NumberFormatException"));
    // A plain rejection, an SQS redrive: no error recorded, no fingerprint.
    assert_eq!(
        headers(json!({"x-first-death-queue": "q", "x-first-death-reason": "rejected"}))
            .fingerprint,
        None
    );
}

#[test]
fn error_type_matches_the_name_its_last_segment_and_the_root_cause() {
    let d = headers(json!({
        "kafka_dlt-original-topic": "orders",
        "kafka_dlt-exception-fqcn": "org.springframework.kafka.listener.ListenerExecutionFailedException",
        "kafka_dlt-exception-cause-fqcn": "java.lang.NumberFormatException",
    }));
    assert_eq!(
        d.cause_type.as_deref(),
        Some("java.lang.NumberFormatException")
    );
    for name in [
        "ListenerExecutionFailedException",
        "org.springframework.kafka.listener.ListenerExecutionFailedException",
        "NumberFormatException",
        "java.lang.NumberFormatException",
    ] {
        assert!(d.error_type_matches(name), "{name}");
    }
    for name in [
        "Exception",
        "FormatException",
        "lang.NumberFormatException",
        "numberformatexception",
        "",
    ] {
        assert!(!d.error_type_matches(name), "{name}");
    }
    let nsb = headers(json!({"NServiceBus.FailedQ": "Sales",
        "NServiceBus.ExceptionInfo.ExceptionType": "System.AggregateException",
        "NServiceBus.ExceptionInfo.InnerExceptionType": "System.TimeoutException"}));
    assert!(nsb.error_type_matches("TimeoutException"));
    assert!(!DeadLetter::default().error_type_matches("Exception"));
    let m = headers(
        json!({"MT-Fault-ExceptionType": "System.Exception", "MT-Fault-Message": "first\nsecond"}),
    );
    assert_eq!(m.error_message_line(), Some("first"));
}

#[test]
fn every_marker_header_names_its_convention_in_any_case_among_other_headers() {
    // The header-name sketch that skips absent markers must never skip a present one.
    for c in CONVENTIONS {
        for m in c.marker {
            let Where::Header(name) = m else { continue };
            for shown in [name.to_string(), name.to_uppercase(), name.to_lowercase()] {
                let mut h = Map::new();
                h.insert("content-type".into(), json!("application/json"));
                h.insert(shown.clone(), json!("x"));
                h.insert("z".into(), json!("1"));
                let d = read(&Input::new(&h, &Map::new(), b"{}"));
                let found = CONVENTIONS
                    .iter()
                    .find(|k| {
                        k.marker
                            .iter()
                            .any(|w| matches!(w, Where::Header(n) if n.eq_ignore_ascii_case(name)))
                    })
                    .map(|k| k.name);
                assert_eq!(d.convention, found, "{} by {shown}", c.name);
            }
        }
    }
}

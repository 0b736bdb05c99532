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
        no_origin(&d).contains("pubsub-dead-letter"),
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
        iso8601("2026-11-26T09:13:59Z"),
        Some(at_ms(1_795_684_439_000))
    );
    assert_eq!(
        iso8601("2026-11-26T10:13:59+01:00"),
        Some(at_ms(1_795_684_439_000))
    );
    assert_eq!(
        iso8601("2026-11-26T08:13:59-01:00"),
        Some(at_ms(1_795_684_439_000))
    );
    assert_eq!(iso8601("yesterday"), None);
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

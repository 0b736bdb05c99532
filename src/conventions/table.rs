//! The conventions, most specific first: JetStream advisories (about this
//! very death), frameworks, then dlq's own headers, then what the brokers
//! write themselves. Header names, types and
//! encodings are those of each project's source (see CONVENTIONS.md).

use super::Enc::*;
use super::Where::*;
use super::{Convention, Enc, Field, OriginRule, Where};
use crate::message::OriginKind;

const fn f(from: Where, enc: Enc) -> Field {
    Field { from, enc }
}

const fn h(name: &'static str) -> Field {
    f(Header(name), Text)
}

const fn hi(name: &'static str) -> Field {
    f(Header(name), Int)
}

/// NServiceBus headers: AMQP headers on RabbitMQ; on SQS a JSON object in
/// the `NServiceBus.AmazonSQS.Headers` attribute, or in the body's `Headers`
/// (the transport's own message format).
macro_rules! nsb {
    ($enc:expr, $name:literal) => {
        &[
            f(Header($name), $enc),
            f(HeaderJson("NServiceBus.AmazonSQS.Headers", $name), $enc),
            f(Body(concat!("/Headers/", $name)), $enc),
        ]
    };
}

/// Brighter headers: record headers on Kafka, keys of the `bag` attribute
/// on SQS.
macro_rules! brighter {
    ($enc:expr, $name:literal) => {
        &[f(Header($name), $enc), f(HeaderJson("bag", $name), $enc)]
    };
}

pub static CONVENTIONS: &[Convention] = &[
    // MAX_DELIVERIES / MSG_TERMINATED advisories: the NATS backend keeps the
    // advisory and the original message's subject in `broker`. First: it is
    // about this very death, whatever headers the original carries.
    Convention {
        name: "jetstream-advisory",
        marker: &[Broker("/advisory/stream_seq")],
        reason: &[f(Fact("advisory_reason"), Text)],
        error_type: &[],
        source: &[f(Broker("/advisory/stream"), Text)],
        attempts: &[f(Broker("/advisory/deliveries"), Int)],
        failed_at: &[f(Broker("/advisory/timestamp"), Iso8601), f(Stored, Text)],
        origin: OriginRule::Named {
            kind: OriginKind::Subject,
            name: &[f(Broker("/subject"), Text)],
            routing_key: &[],
            default_queue: &[],
        },
        error_message: &[],
        stack_trace: &[],
        cause_type: &[],
    },
    // MassTransit `_error` (MT-Reason=fault) and `_skipped` (dead-letter).
    Convention {
        name: "masstransit",
        marker: &[
            Header("MT-Fault-InputAddress"),
            Header("MT-Fault-ExceptionType"),
            Header("MT-Reason"),
        ],
        reason: &[h("MT-Fault-Message"), h("MT-Reason")],
        error_type: &[h("MT-Fault-ExceptionType")],
        source: &[f(Header("MT-Fault-InputAddress"), LastSegment)],
        attempts: &[hi("MT-Fault-RetryCount"), hi("MT-Redelivery-Count")],
        failed_at: &[f(Header("MT-Fault-Timestamp"), Iso8601)],
        origin: OriginRule::Endpoint(&[h("MT-Fault-InputAddress")]),
        error_message: &[h("MT-Fault-Message")],
        stack_trace: &[h("MT-Fault-StackTrace")],
        cause_type: &[],
    },
    Convention {
        name: "nservicebus",
        marker: &[
            Header("NServiceBus.FailedQ"),
            HeaderJson("NServiceBus.AmazonSQS.Headers", "NServiceBus.FailedQ"),
            Body("/Headers/NServiceBus.FailedQ"),
        ],
        reason: nsb!(Text, "NServiceBus.ExceptionInfo.Message"),
        error_type: nsb!(Text, "NServiceBus.ExceptionInfo.ExceptionType"),
        source: nsb!(Text, "NServiceBus.FailedQ"),
        attempts: &[],
        failed_at: nsb!(NsbTime, "NServiceBus.TimeOfFailure"),
        origin: OriginRule::Endpoint(nsb!(Text, "NServiceBus.FailedQ")),
        error_message: nsb!(Text, "NServiceBus.ExceptionInfo.Message"),
        stack_trace: nsb!(Text, "NServiceBus.ExceptionInfo.StackTrace"),
        cause_type: nsb!(Text, "NServiceBus.ExceptionInfo.InnerExceptionType"),
    },
    // DeadLetterPublishingRecoverer; the DLT record's own time is the failure.
    Convention {
        name: "spring-kafka",
        marker: &[
            Header("kafka_dlt-original-topic"),
            Header("kafka_dlt-exception-fqcn"),
            Header("kafka_dlt-key-exception-fqcn"),
        ],
        reason: &[
            h("kafka_dlt-exception-message"),
            h("kafka_dlt-key-exception-message"),
        ],
        error_type: &[
            h("kafka_dlt-exception-fqcn"),
            h("kafka_dlt-key-exception-fqcn"),
        ],
        source: &[h("kafka_dlt-original-topic")],
        attempts: &[hi("retry_topic-attempts"), hi("kafka_deliveryAttempt")],
        failed_at: &[f(Stored, Text)],
        origin: OriginRule::Named {
            kind: OriginKind::Topic,
            name: &[h("kafka_dlt-original-topic")],
            routing_key: &[],
            default_queue: &[],
        },
        error_message: &[
            h("kafka_dlt-exception-message"),
            h("kafka_dlt-key-exception-message"),
        ],
        stack_trace: &[
            h("kafka_dlt-exception-stacktrace"),
            h("kafka_dlt-key-exception-stacktrace"),
        ],
        cause_type: &[
            h("kafka_dlt-exception-cause-fqcn"),
            h("kafka_dlt-key-exception-cause-fqcn"),
        ],
    },
    // Spring Cloud Stream's Kafka binder DLQ: Spring's encodings, `x-` names.
    Convention {
        name: "spring-kafka",
        marker: &[Header("x-original-topic")],
        reason: &[h("x-exception-message")],
        error_type: &[h("x-exception-fqcn")],
        source: &[h("x-original-topic")],
        attempts: &[],
        failed_at: &[f(Stored, Text)],
        origin: OriginRule::Named {
            kind: OriginKind::Topic,
            name: &[h("x-original-topic")],
            routing_key: &[],
            default_queue: &[],
        },
        error_message: &[h("x-exception-message")],
        stack_trace: &[h("x-exception-stacktrace")],
        cause_type: &[],
    },
    // RepublishMessageRecoverer, and Spring Cloud Stream Rabbit republishToDlq.
    Convention {
        name: "spring-amqp",
        marker: &[
            Header("x-original-exchange"),
            Header("x-original-routingKey"),
        ],
        reason: &[h("x-exception-message")],
        error_type: &[f(Header("x-exception-stacktrace"), TraceType)],
        source: &[h("x-original-routingKey"), h("x-original-exchange")],
        attempts: &[],
        failed_at: &[],
        origin: OriginRule::Named {
            kind: OriginKind::Exchange,
            name: &[h("x-original-exchange")],
            routing_key: &[h("x-original-routingKey")],
            default_queue: &[],
        },
        error_message: &[h("x-exception-message")],
        stack_trace: &[h("x-exception-stacktrace")],
        cause_type: &[f(Header("x-exception-stacktrace"), TraceCauseType)],
    },
    // errors.deadletterqueue.context.headers.enable=true; offsets as text.
    Convention {
        name: "kafka-connect",
        marker: &[
            Header("__connect.errors.topic"),
            Header("__connect.errors.exception.class.name"),
        ],
        reason: &[
            h("__connect.errors.exception.message"),
            h("__connect.errors.exception.class.name"),
        ],
        error_type: &[h("__connect.errors.exception.class.name")],
        source: &[h("__connect.errors.topic")],
        attempts: &[],
        failed_at: &[f(Stored, Text)],
        origin: OriginRule::Named {
            kind: OriginKind::Topic,
            name: &[h("__connect.errors.topic")],
            routing_key: &[],
            default_queue: &[],
        },
        error_message: &[h("__connect.errors.exception.message")],
        stack_trace: &[h("__connect.errors.exception.stacktrace")],
        cause_type: &[],
    },
    // KIP-1034; `exception` is the exception's toString, not only its class.
    Convention {
        name: "kafka-streams",
        marker: &[
            Header("__streams.errors.topic"),
            Header("__streams.errors.exception"),
        ],
        reason: &[
            h("__streams.errors.message"),
            h("__streams.errors.exception"),
        ],
        error_type: &[h("__streams.errors.exception")],
        source: &[h("__streams.errors.topic")],
        attempts: &[],
        failed_at: &[f(Stored, Text)],
        origin: OriginRule::Named {
            kind: OriginKind::Topic,
            name: &[h("__streams.errors.topic")],
            routing_key: &[],
            default_queue: &[],
        },
        error_message: &[h("__streams.errors.message")],
        stack_trace: &[h("__streams.errors.stacktrace")],
        cause_type: &[],
    },
    Convention {
        name: "rebus",
        marker: &[Header("rbs2-source-queue"), Header("rbs2-error-details")],
        reason: &[h("rbs2-error-details")],
        error_type: &[],
        source: &[h("rbs2-source-queue")],
        attempts: &[],
        failed_at: &[],
        origin: OriginRule::Endpoint(&[h("rbs2-source-queue")]),
        error_message: &[h("rbs2-error-details")],
        stack_trace: &[],
        cause_type: &[],
    },
    Convention {
        name: "wolverine",
        marker: &[Header("original-destination"), Header("exception-type")],
        reason: &[h("exception-message"), h("exception-type")],
        error_type: &[h("exception-type")],
        source: &[f(Header("original-destination"), LastSegment)],
        attempts: &[hi("attempts")],
        failed_at: &[f(Header("failed-at"), UnixMs)],
        origin: OriginRule::Endpoint(&[h("original-destination")]),
        error_message: &[h("exception-message")],
        stack_trace: &[h("exception-stack")],
        cause_type: &[],
    },
    Convention {
        name: "brighter",
        marker: &[
            Header("OriginalTopic"),
            Header("RejectionReason"),
            HeaderJson("bag", "OriginalTopic"),
            HeaderJson("bag", "RejectionReason"),
        ],
        reason: brighter!(Text, "RejectionMessage"),
        error_type: brighter!(Text, "RejectionReason"),
        source: brighter!(Text, "OriginalTopic"),
        attempts: &[
            hi("HandledCount"),
            hi("handled-count"),
            f(HeaderJson("bag", "HandledCount"), Int),
        ],
        failed_at: brighter!(Iso8601, "RejectionTimestamp"),
        // On Kafka the topic is the origin; on SQS OriginalTopic is an SNS
        // topic, so the redrive policy's source queue is used instead.
        origin: OriginRule::Named {
            kind: OriginKind::Topic,
            name: &[h("OriginalTopic")],
            routing_key: &[],
            default_queue: &[],
        },
        error_message: brighter!(Text, "RejectionMessage"),
        stack_trace: &[],
        cause_type: &[],
    },
    // rascal's republish and forward recoveries: a nested `rascal` header
    // table. The origin is the queue that failed, not the original
    // exchange, which may route to queues that did not fail.
    Convention {
        name: "rascal",
        marker: &[
            HeaderTable("rascal", "/originalQueue"),
            HeaderTable("rascal", "/error/message"),
        ],
        reason: &[rascal("/error/message")],
        error_type: &[rascal("/error/code")],
        source: &[rascal("/originalQueue")],
        attempts: &[
            f(HeaderTable("rascal", "/recovery/*/*"), Int),
            f(HeaderTable("rascal", "/redeliveries"), Int),
        ],
        failed_at: &[],
        origin: OriginRule::Named {
            kind: OriginKind::Queue,
            name: &[rascal("/originalQueue")],
            routing_key: &[],
            default_queue: &[],
        },
        error_message: &[rascal("/error/message")],
        stack_trace: &[],
        cause_type: &[],
    },
    // dramatiq: the JSON body of a message nacked into `<queue>.XQ`. Its
    // traceback and retry count are those the body had when it was last
    // enqueued, so `retries` retries mean one attempt more; a message that
    // was never retried has neither, and x-death says the rest.
    Convention {
        name: "dramatiq",
        marker: &[Body("/actor_name")],
        reason: &[f(Body("/options/traceback"), TraceMessage)],
        error_type: &[f(Body("/options/traceback"), TraceType)],
        source: &[h_body("/queue_name")],
        attempts: &[f(Body("/options/retries"), Retries)],
        failed_at: &[],
        origin: OriginRule::Named {
            kind: OriginKind::Queue,
            name: &[h_body("/queue_name")],
            routing_key: &[],
            default_queue: &[],
        },
        error_message: &[f(Body("/options/traceback"), TraceMessage)],
        stack_trace: &[h_body("/options/traceback")],
        cause_type: &[],
    },
    // Lambda on-failure destination: the record is the JSON body.
    Convention {
        name: "lambda",
        marker: &[Body("/requestContext/functionArn")],
        reason: &[
            h_body("/responsePayload/errorMessage"),
            h_body("/requestContext/condition"),
        ],
        error_type: &[
            h_body("/responsePayload/errorType"),
            h_body("/responseContext/functionError"),
        ],
        source: &[h_body("/requestContext/functionArn")],
        attempts: &[f(Body("/requestContext/approximateInvokeCount"), Int)],
        failed_at: &[f(Body("/timestamp"), Iso8601)],
        origin: OriginRule::NotAQueue("Lambda function"),
        error_message: &[h_body("/responsePayload/errorMessage")],
        stack_trace: &[],
        cause_type: &[],
    },
    // Lambda asynchronous-invocation DLQ: attributes only.
    Convention {
        name: "lambda",
        marker: &[Header("ErrorCode"), Header("RequestID")],
        reason: &[h("ErrorMessage")],
        error_type: &[h("ErrorCode")],
        source: &[],
        attempts: &[],
        failed_at: &[],
        origin: OriginRule::NotAQueue("Lambda function"),
        error_message: &[h("ErrorMessage")],
        stack_trace: &[],
        cause_type: &[],
    },
    Convention {
        name: "eventbridge",
        marker: &[Header("RULE_ARN"), Header("ERROR_CODE")],
        reason: &[h("ERROR_MESSAGE"), h("EXHAUSTED_RETRY_CONDITION")],
        error_type: &[h("ERROR_CODE")],
        source: &[h("RULE_ARN")],
        attempts: &[hi("RETRY_ATTEMPTS")],
        failed_at: &[f(Body("/time"), Iso8601)],
        origin: OriginRule::NotAQueue("EventBridge rule"),
        error_message: &[h("ERROR_MESSAGE")],
        stack_trace: &[],
        cause_type: &[],
    },
    // SNS subscription DLQ: the notification's JSON envelope (not raw delivery).
    Convention {
        name: "sns",
        marker: &[Body("/TopicArn")],
        reason: &[],
        error_type: &[],
        source: &[h_body("/TopicArn")],
        attempts: &[],
        failed_at: &[f(Body("/Timestamp"), Iso8601)],
        origin: OriginRule::NotAQueue("SNS topic"),
        error_message: &[],
        stack_trace: &[],
        cause_type: &[],
    },
    // Headers anyone can set for dlq to read (docs/kafka.md, docs/nats.md).
    Convention {
        name: "dlq",
        marker: &[
            Header("dlq-original-topic"),
            Header("dlq-original-subject"),
            Header("dlq-reason"),
        ],
        reason: &[h("dlq-reason"), h("dlq-error")],
        error_type: &[],
        source: &[
            h("dlq-original-topic"),
            h("Nats-Stream"),
            f(Fact("source_stream"), Text),
            h("dlq-original-subject"),
        ],
        attempts: &[hi("dlq-attempts")],
        failed_at: &[
            f(Header("dlq-first-death-at"), Iso8601),
            f(Header("dlq-first-death-at"), UnixMs),
            f(Stored, Text),
        ],
        origin: OriginRule::Named {
            kind: OriginKind::Topic,
            name: &[h("dlq-original-topic")],
            routing_key: &[],
            default_queue: &[],
        },
        error_message: &[h("dlq-error")],
        stack_trace: &[],
        cause_type: &[],
    },
    Convention {
        name: "dlq",
        marker: &[Header("dlq-original-subject")],
        reason: &[],
        error_type: &[],
        source: &[],
        attempts: &[],
        failed_at: &[],
        origin: OriginRule::Named {
            kind: OriginKind::Subject,
            name: &[h("dlq-original-subject")],
            routing_key: &[],
            default_queue: &[],
        },
        error_message: &[],
        stack_trace: &[],
        cause_type: &[],
    },
    // RePublish: no delivery count (it is only in the ack reply subject).
    Convention {
        name: "jetstream-republish",
        marker: &[Header("Nats-Subject")],
        reason: &[],
        error_type: &[],
        source: &[h("Nats-Stream"), f(Fact("source_stream"), Text)],
        attempts: &[],
        failed_at: &[f(Header("Nats-Time-Stamp"), Iso8601), f(Stored, Text)],
        origin: OriginRule::Named {
            kind: OriginKind::Subject,
            name: &[h("Nats-Subject")],
            routing_key: &[],
            default_queue: &[],
        },
        error_message: &[],
        stack_trace: &[],
        cause_type: &[],
    },
    // RabbitMQ dead-lettering; quorum queues count deliveries in x-delivery-count.
    Convention {
        name: "rabbitmq",
        marker: &[Header("x-death"), Header("x-first-death-queue")],
        reason: &[h("x-first-death-reason"), f(FirstDeath("reason"), Text)],
        error_type: &[],
        source: &[h("x-first-death-queue"), f(FirstDeath("queue"), Text)],
        attempts: &[hi("x-delivery-count"), f(DeathCount, Int)],
        failed_at: &[f(FirstDeath("time"), UnixSecs)],
        origin: OriginRule::Named {
            kind: OriginKind::Exchange,
            name: &[h("x-first-death-exchange"), f(FirstDeath("exchange"), Text)],
            routing_key: &[
                f(FirstDeath("routing-keys"), Text),
                h("x-first-death-queue"),
            ],
            // Through the default exchange it goes back to the queue it died in,
            // not to its first routing key (a CC or BCC key names another queue).
            default_queue: &[h("x-first-death-queue"), f(FirstDeath("queue"), Text)],
        },
        error_message: &[],
        stack_trace: &[],
        cause_type: &[],
    },
    // The SQS redrive policy: the source ARN (or the DLQ's single source).
    Convention {
        name: "sqs-redrive",
        marker: &[Broker("/DeadLetterQueueSourceArn"), Fact("source_queue")],
        reason: &[],
        error_type: &[],
        source: &[
            f(Broker("/DeadLetterQueueSourceArn"), LastSegment),
            f(Fact("source_queue"), Text),
        ],
        attempts: &[f(Broker("/ApproximateReceiveCount"), Int)],
        failed_at: &[],
        origin: OriginRule::Named {
            kind: OriginKind::Queue,
            name: &[
                f(Broker("/DeadLetterQueueSourceArn"), LastSegment),
                f(Fact("source_queue"), Text),
            ],
            routing_key: &[],
            default_queue: &[],
        },
        error_message: &[],
        stack_trace: &[],
        cause_type: &[],
    },
    // A Pub/Sub dead-letter policy: the source subscription's topic, which
    // only the server can tell, is the fact `source_topic`; the dead letter's
    // own publish time is when it died.
    Convention {
        name: "pubsub-dead-letter",
        marker: &[
            Header("CloudPubSubDeadLetterSourceSubscription"),
            Header("CloudPubSubDeadLetterSourceDeliveryCount"),
        ],
        reason: &[],
        error_type: &[],
        source: &[h("CloudPubSubDeadLetterSourceSubscription")],
        attempts: &[hi("CloudPubSubDeadLetterSourceDeliveryCount")],
        failed_at: &[f(Stored, Text)],
        origin: OriginRule::Named {
            kind: OriginKind::Topic,
            name: &[f(Fact("source_topic"), Text)],
            routing_key: &[],
            default_queue: &[],
        },
        error_message: &[],
        stack_trace: &[],
        cause_type: &[],
    },
];

const fn rascal(ptr: &'static str) -> Field {
    f(HeaderTable("rascal", ptr), Text)
}

const fn h_body(ptr: &'static str) -> Field {
    f(Body(ptr), Text)
}

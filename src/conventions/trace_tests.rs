//! Stack traces in the shapes the frameworks record them.

use super::*;

/// Java, as Spring Kafka's `kafka_dlt-exception-stacktrace` holds it: the
/// listener's wrapper, a `Suppressed:` section and the root cause. Shape
/// from spring-projects/spring-kafka issue #2179 (frames, `Suppressed:`,
/// `Caused by:`, `... N more`) and PR #1897.
pub const JAVA: &str = "org.springframework.kafka.listener.ListenerExecutionFailedException: Listener method 'public void com.example.Orders.listen(java.lang.String)' threw exception
\tat org.springframework.kafka.listener.KafkaMessageListenerContainer$ListenerConsumer.decorateException(KafkaMessageListenerContainer.java:2945)
\tat org.springframework.kafka.listener.KafkaMessageListenerContainer$ListenerConsumer.doInvokeOnMessage(KafkaMessageListenerContainer.java:2857)
\tat java.base/java.lang.Thread.run(Thread.java:840)
\tSuppressed: org.springframework.kafka.listener.ListenerExecutionFailedException: Restored Stack Trace
\t\tat org.springframework.kafka.listener.adapter.MessagingMessageListenerAdapter.invokeHandler(MessagingMessageListenerAdapter.java:380)
Caused by: java.lang.NumberFormatException: For input string: \"12x\"
\tat java.base/java.lang.NumberFormatException.forInputString(NumberFormatException.java:67)
\tat java.base/java.lang.Integer.parseInt(Integer.java:662)
\tat java.base/java.lang.Integer.parseInt(Integer.java:778)
\tat com.example.Orders.listen(Orders.java:31)
\tat jdk.internal.reflect.GeneratedMethodAccessor29.invoke(Unknown Source)
\tat java.base/java.lang.reflect.Method.invoke(Method.java:569)
\t... 14 more
";

/// .NET `Exception.ToString()`, as MassTransit's `MT-Fault-StackTrace` and
/// NServiceBus's `ExceptionInfo.StackTrace` hold it. Shape from
/// MassTransit/MassTransit issue #5014 (`in /_/src/...cs:line N`, `--- End
/// of stack trace from previous location ---`).
pub const DOTNET: &str = "System.InvalidOperationException: Order 123 not found
   at Shop.Orders.ChargeConsumer.Consume(ConsumeContext`1 context) in /_/src/Shop/ChargeConsumer.cs:line 27
   at MassTransit.DependencyInjection.ScopeConsumerFactory`1.Send[TMessage](ConsumeContext`1 context, IPipe`1 next) in /_/src/MassTransit/DependencyInjection/ScopeConsumerFactory.cs:line 22
--- End of stack trace from previous location ---
   at MassTransit.Middleware.ConsumerMessageFilter`2.MassTransit.IFilter<MassTransit.ConsumeContext<TMessage>>.Send(ConsumeContext`1 context, IPipe`1 next) in /_/src/MassTransit/Middleware/ConsumerMessageFilter.cs:line 73
   at MassTransit.Middleware.TeeFilter`1.<>c__DisplayClass5_0.<<Send>g__SendAsync|1>d.MoveNext() in /_/src/MassTransit/Middleware/TeeFilter.cs:line 40
   at MassTransit.Middleware.OutputPipeFilter`2.SendToOutput(IPipe`1 next, TOutput pipeContext) in /_/src/MassTransit/Middleware/OutputPipeFilter.cs:line 76
   at MassTransit.Middleware.DeserializeFilter.Send(ReceiveContext context, IPipe`1 next) in /_/src/MassTransit/Middleware/DeserializeFilter.cs:line 40
";

/// Python, as dramatiq's `options.traceback` holds it (`format_exc(limit=30)`
/// in `middleware/retries.py`): captured from a dramatiq 2.2.1 worker.
pub const PYTHON: &str = "Traceback (most recent call last):
  File \"/srv/app/.venv/lib/python3.11/site-packages/dramatiq/worker.py\", line 560, in process_message
    res = actor(*message.args, **message.kwargs)
          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File \"/srv/app/.venv/lib/python3.11/site-packages/dramatiq/actor.py\", line 194, in __call__
    return self.fn(*args, **kwargs)
           ^^^^^^^^^^^^^^^^^^^^^^^^
  File \"/srv/app/tasks.py\", line 7, in charge
    raise ValueError(f\"Order {order_id} not found\")
ValueError: Order 123 not found
";

#[test]
fn java_root_cause_frames_without_lines_or_modules() {
    assert_eq!(
        frames(JAVA, 5),
        [
            "java.lang.NumberFormatException.forInputString(NumberFormatException.java)",
            "java.lang.Integer.parseInt(Integer.java)",
            "java.lang.Integer.parseInt(Integer.java)",
            "com.example.Orders.listen(Orders.java)",
            "jdk.internal.reflect.GeneratedMethodAccessor29.invoke(Unknown Source)",
        ]
    );
    assert_eq!(
        exception_line(JAVA).unwrap().0,
        "org.springframework.kafka.listener.ListenerExecutionFailedException"
    );
    assert_eq!(
        root_cause_type(JAVA).as_deref(),
        Some("java.lang.NumberFormatException")
    );
    // Without a cause, the top section's frames; a logger's jar suffix goes.
    let plain = "java.lang.IllegalStateException: no\n\tat a.B.c(B.java:1) ~[app.jar:1.0]\n";
    assert_eq!(frames(plain, 5), ["a.B.c(B.java)"]);
    assert_eq!(root_cause_type(plain), None);
}

#[test]
fn dotnet_frames_without_paths_and_separators() {
    let f = frames(DOTNET, 5);
    assert_eq!(f.len(), 5);
    assert_eq!(
        f[0],
        "Shop.Orders.ChargeConsumer.Consume(ConsumeContext`1 context)"
    );
    assert!(f.iter().all(|l| !l.contains("line ") && !l.contains("---")));
    assert_eq!(
        exception_line(DOTNET).unwrap(),
        (
            "System.InvalidOperationException".to_owned(),
            "Order 123 not found".to_owned()
        )
    );
    // An inner exception is named after ` ---> ` on the first line.
    let inner =
        "System.AggregateException: outer ---> System.TimeoutException: slow\n   at A.B()\n";
    assert_eq!(exception_line(inner).unwrap().1, "outer");
}

#[test]
fn python_frames_innermost_first_with_their_code() {
    assert_eq!(
        frames(PYTHON, 5),
        [
            "tasks.py in charge: raise ValueError(f\"Order {order_id} not found\")",
            "actor.py in __call__: return self.fn(*args, **kwargs)",
            "worker.py in process_message: res = actor(*message.args, **message.kwargs)",
        ]
    );
    assert_eq!(
        exception_line(PYTHON).unwrap(),
        ("ValueError".to_owned(), "Order 123 not found".to_owned())
    );
    // A chained traceback: the last section is the exception raised.
    let chained = format!(
        "{PYTHON}\nThe above exception was the direct cause of the following exception:\n\n\
         Traceback (most recent call last):\n  File \"/srv/app/tasks.py\", line 12, in run\n    charge(1)\n\
         app.errors.ChargeFailed: could not charge\nsecond line\n"
    );
    assert_eq!(frames(&chained, 5), ["tasks.py in run: charge(1)"]);
    assert_eq!(
        exception_line(&chained).unwrap(),
        (
            "app.errors.ChargeFailed".to_owned(),
            "could not charge\nsecond line".to_owned()
        )
    );
    // An exception without a message.
    let bare = "Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n    raise KeyError\nKeyError\n";
    assert_eq!(
        exception_line(bare).unwrap(),
        ("KeyError".into(), String::new())
    );
}

#[test]
fn text_that_is_no_trace() {
    assert_eq!(exception_line("5 unhandled exceptions: boom"), None);
    assert_eq!(exception_line("org.springframework.amqp..."), None);
    assert_eq!(exception_line(""), None);
    assert!(frames("just a message", 5).is_empty());
}

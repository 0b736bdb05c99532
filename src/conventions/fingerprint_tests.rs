//! Fingerprints on the traces of `trace_tests.rs` and on messages alone.

use super::super::trace::tests::{DOTNET, JAVA, PYTHON};
use super::*;

fn fp(ty: Option<&str>, msg: Option<&str>, trace: Option<&str>) -> String {
    fingerprint(ty, msg, trace).expect("a fingerprint")
}

#[test]
fn placeholders_for_what_varies() {
    assert_eq!(normalize("Order 123 not found"), "Order <n> not found");
    assert_eq!(
        normalize("For input string: \"12x\" at 3.5"),
        "For input string: <q> at <n>"
    );
    assert_eq!(
        normalize("can't find 'abc' or `x`"),
        "can't find <q> or <q>"
    );
    assert_eq!(
        normalize("id 3f2a9c1d-07be-4c1e-9a0b-33d2aa01b7e4 failed"),
        "id <uuid> failed"
    );
    assert_eq!(
        normalize("tx deadbeefcafe and 1a2b3c4d5e6f; dead"),
        "tx <hex> and <hex>; dead"
    );
    assert_eq!(normalize("item-42, v2"), "item-<n>, v<n>");
    assert_eq!(normalize("\"unclosed"), "\"unclosed");
}

#[test]
fn same_failure_same_fingerprint() {
    let ty = Some("System.InvalidOperationException");
    let a = fp(ty, Some("Order 123 not found"), None);
    assert_eq!(a, fp(ty, Some("Order 456 not found"), None));
    assert_eq!(a.len(), 12);
    assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(
        a,
        fp(
            Some("System.TimeoutException"),
            Some("Order 123 not found"),
            None
        )
    );
    assert_ne!(a, fp(ty, Some("Customer 123 not found"), None));
    // A message alone, or a type alone, still fingerprints.
    assert_ne!(fp(None, Some("boom"), None), fp(Some("boom"), None, None));
}

#[test]
fn nothing_recorded_no_fingerprint() {
    assert_eq!(fingerprint(None, None, None), None);
    assert_eq!(fingerprint(None, None, Some(JAVA)), None);
}

#[test]
fn traces_group_by_type_and_frames_not_lines() {
    for trace in [JAVA, DOTNET, PYTHON] {
        let ty = Some("T");
        let a = fp(ty, Some("Order 123 not found"), Some(trace));
        // Another build: every line number moves; the message differs too.
        let moved: String = trace
            .replace(":line 27", ":line 29")
            .replace(".java:31)", ".java:35)")
            .replace("line 7,", "line 9,");
        assert_ne!(moved, trace);
        assert_eq!(
            a,
            fp(ty, Some("Order 456 not found"), Some(&moved)),
            "{trace}"
        );
        // Another exception type does not share it.
        assert_ne!(a, fp(Some("U"), Some("Order 123 not found"), Some(trace)));
        // Nor does the same type thrown from elsewhere.
        let elsewhere = trace
            .replace("Orders.listen", "Orders.refund")
            .replace("ChargeConsumer.Consume", "RefundConsumer.Consume")
            .replace("in charge", "in refund");
        assert_ne!(a, fp(ty, Some("Order 123 not found"), Some(&elsewhere)));
    }
}

#[test]
fn only_the_first_five_frames_count() {
    let name = "java.lang.IllegalStateException";
    let ty = Some(name);
    let frames: Vec<String> = (0..7)
        .map(|i| format!("\tat a.B.m{i}(B.java:{i})"))
        .collect();
    let trace = |tail: &str| format!("{name}: x\n{}\n{tail}", frames.join("\n"));
    assert_eq!(
        fp(ty, None, Some(&trace(""))),
        fp(
            ty,
            None,
            Some(&trace("\tat other.Caller.run(Caller.java:1)"))
        )
    );
    let mut fewer = frames.clone();
    fewer[4] = "\tat a.B.other(B.java:4)".into();
    assert_ne!(
        fp(ty, None, Some(&trace(""))),
        fp(ty, None, Some(&format!("{name}: x\n{}", fewer.join("\n"))))
    );
}

#[test]
fn a_trace_without_frames_falls_back_to_the_message() {
    let ty = Some("E");
    assert_eq!(
        fp(ty, Some("Order 1 not found"), Some("no frames here")),
        fp(ty, Some("Order 2 not found"), None)
    );
}

/// NServiceBus's `ExceptionInfo.StackTrace` (`Exception.ToString()` since
/// NServiceBus 5, Particular/NServiceBus PR #2436), in the shape the
/// docs' `HeaderWriterError` sample records, quoted in Particular/NServiceBus
/// issue #4018: the async state machine's `MoveNext` frames and the
/// `--- End of stack trace ... ---` separator.
const NSERVICEBUS: &str = "System.Exception: Order 1234 not found
   at Shop.Billing.ChargeHandler.Handle(ChargeOrder message, IMessageHandlerContext context)
   at NServiceBus.InvokeHandlerTerminator.<Terminate>d__0.MoveNext()
--- End of stack trace from previous location where exception was thrown ---
   at System.Runtime.CompilerServices.TaskAwaiter.ThrowForNonSuccess(Task task)
   at System.Runtime.CompilerServices.TaskAwaiter.HandleNonSuccessAndDebuggerNotification(Task task)
   at NServiceBus.LoadHandlersConnector.<Invoke>d__1.MoveNext()
   at NServiceBus.MutateIncomingMessageBehavior.<InvokeIncomingMessageMutators>d__2.MoveNext()
";

#[test]
fn nservicebus_traces_group_by_handler() {
    let ty = Some("System.Exception");
    let a = fp(ty, Some("Order 1234 not found"), Some(NSERVICEBUS));
    let again = NSERVICEBUS.replace("1234", "98");
    assert_eq!(a, fp(ty, Some("Order 98 not found"), Some(&again)));
    let refund = NSERVICEBUS.replace("ChargeHandler", "RefundHandler");
    assert_ne!(a, fp(ty, Some("Order 1234 not found"), Some(&refund)));
    // Frames past the fifth do not count.
    let deeper = NSERVICEBUS.replace("MutateIncomingMessageBehavior", "Other");
    assert_eq!(a, fp(ty, Some("Order 1234 not found"), Some(&deeper)));
}

//! SDK errors to one line that names the operation and what to do.
//!
//! The service's own code and message are what an operator can act on
//! (`QueueDoesNotExist`, `AccessDenied`, `PurgeQueueInProgress`), so they are
//! printed instead of the SDK's debug dump; transport failures (timeout,
//! connection refused) say which endpoint could not be reached. Every error
//! here is a broker error (exit 4).

use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::exit::broker;

use super::NAME;

/// Whether a service error code means the queue does not exist.
pub fn is_not_found(code: &str) -> bool {
    matches!(
        code,
        "AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist" | "NonExistentQueue"
    )
}

/// The service's code and message, when the error came from the service.
pub fn code_and_message<E: ProvideErrorMetadata, R>(
    err: &SdkError<E, R>,
) -> Option<(String, String)> {
    match err {
        SdkError::ServiceError(e) => {
            let e = e.err();
            Some((
                e.code().unwrap_or("Unknown").to_owned(),
                e.message().unwrap_or("").to_owned(),
            ))
        }
        _ => None,
    }
}

/// One line for an SDK error, without the operation.
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let Some((code, message)) = code_and_message(err) {
        return explain(&code, &message);
    }
    match err {
        SdkError::TimeoutError(_) => {
            "no answer within the timeout (is the endpoint reachable? see --timeout, --endpoint-url)".into()
        }
        SdkError::DispatchFailure(_) => format!(
            "cannot reach the endpoint ({}); check the region and --endpoint-url",
            one_line(&DisplayErrorContext(err).to_string())
        ),
        _ => one_line(&DisplayErrorContext(err).to_string()),
    }
}

/// A service error code and message in the operator's words.
pub fn explain(code: &str, message: &str) -> String {
    let detail = if message.is_empty() {
        code.to_owned()
    } else {
        format!("{code}: {message}")
    };
    match code {
        c if is_not_found(c) => format!("queue not found ({detail})"),
        "InvalidClientTokenId" | "UnrecognizedClientException" | "SignatureDoesNotMatch"
        | "IncompleteSignature" | "MissingAuthenticationToken" | "ExpiredToken" => {
            format!("credentials rejected ({detail})")
        }
        "AccessDenied" | "AccessDeniedException" | "KMS.AccessDeniedException" => {
            format!("access denied ({detail})")
        }
        "Throttling" | "ThrottlingException" | "RequestThrottled" | "OverLimit" => {
            format!("throttled, still after retrying with backoff ({detail})")
        }
        "PurgeQueueInProgress" | "AWS.SimpleQueueService.PurgeQueueInProgress" => format!(
            "a purge of this queue is already in progress; SQS allows one purge a minute: try again in a minute ({detail})"
        ),
        _ => detail,
    }
}

/// A broker error (exit 4): "sqs: OPERATION: what went wrong".
pub fn fail<E, R>(operation: &str, err: SdkError<E, R>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    broker(NAME, operation, describe(&err))
}

/// Collapses a multi-line error text into one line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_as_words() {
        assert!(
            explain("AWS.SimpleQueueService.NonExistentQueue", "x").starts_with("queue not found")
        );
        assert!(explain("AccessDenied", "no").starts_with("access denied"));
        assert!(explain("PurgeQueueInProgress", "").contains("one purge a minute"));
        assert_eq!(explain("Odd", "thing"), "Odd: thing");
    }
}

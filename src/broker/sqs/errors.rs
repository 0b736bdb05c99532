//! SDK errors to one line that names the operation and what to do.
//!
//! The service's own code and message are what an operator can act on
//! (`QueueDoesNotExist`, `AccessDenied`, `PurgeQueueInProgress`), so they are
//! printed instead of the SDK's debug dump; transport failures (timeout,
//! connection refused) say which endpoint could not be reached. Every error
//! here is a broker error (exit 4).

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::BatchResultErrorEntry;

use crate::exit::{broker_with, not_found};

use super::NAME;

/// Whether a service error code means the queue does not exist.
pub fn is_not_found(code: &str) -> bool {
    matches!(
        code,
        "AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist" | "NonExistentQueue"
    )
}

/// Where an SQS user names a private CA.
const CA_HINT: &str = "name the CA that signed it with tls_ca_file in the profile or AWS_CA_BUNDLE";

/// One line for an SDK error, without the operation.
pub fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    // Only an answer of the service carries a code.
    if let Some(code) = err.code() {
        return explain(code, err.message().unwrap_or(""));
    }
    match err {
        SdkError::ServiceError(e) => format!(
            "the endpoint answered HTTP {} without an SQS error code (is it an SQS endpoint?)",
            e.raw().status().as_u16()
        ),
        SdkError::TimeoutError(_) => {
            "no answer within the timeout (is the endpoint reachable? see --timeout, --endpoint-url)".into()
        }
        SdkError::DispatchFailure(_) => {
            let chain = crate::exit::chain(err);
            crate::tls::explain(&chain, false, false, CA_HINT).unwrap_or_else(|| {
                format!("cannot reach the endpoint ({chain}); check the region and --endpoint-url")
            })
        }
        SdkError::ResponseError(e) => format!(
            "the endpoint's answer is not an SQS response (HTTP {}); is it an SQS endpoint?",
            e.raw().status().as_u16()
        ),
        _ => crate::exit::chain(err),
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
            format!("credentials rejected ({detail}); check the keys, and that the region is the queue's")
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

/// Why one entry of a batch call failed, in the operator's words.
pub fn entry_failure(f: &BatchResultErrorEntry) -> String {
    explain(f.code(), f.message().unwrap_or(""))
}

/// A broker error (exit 4): "sqs: OPERATION: what went wrong".
pub fn fail<E>(operation: &str, err: SdkError<E, HttpResponse>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let what = describe(&err);
    if err.code().is_some_and(is_not_found) {
        return not_found(format!("{NAME}: {operation}: {what}"), Some(Box::new(err)));
    }
    broker_with(NAME, operation, what, err)
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

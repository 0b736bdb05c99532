//! gRPC statuses as one line for the operator, with the exit code from the
//! status code (never from its text): an argument the server refuses is a
//! usage error (exit 2), everything else a broker error (exit 4).

use gcloud_gax::grpc::{Code, Status};

use super::NAME;
use crate::exit::{broker_with, usage};

/// What failed during `operation`, in words, with the status kept for `-v`.
pub fn fail(operation: &str, status: Status) -> anyhow::Error {
    let detail = status.message().trim().to_owned();
    let what = match status.code() {
        Code::NotFound => "not found".to_owned(),
        Code::InvalidArgument => {
            return usage(format!("{NAME}: {operation}: the server refused it: {detail}"))
        }
        Code::PermissionDenied => format!(
            "permission denied ({detail}); the credentials need a Pub/Sub role on the project"
        ),
        Code::Unauthenticated => format!(
            "not authenticated ({detail}); run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"
        ),
        Code::Unavailable => format!("the server is unavailable ({detail})"),
        Code::DeadlineExceeded => "no answer in time (see --timeout)".to_owned(),
        code if detail.is_empty() => format!("{code:?}"),
        code => format!("{code:?}: {detail}"),
    };
    broker_with(NAME, operation, what, status)
}

/// Whether a status says the resource does not exist.
pub fn is_not_found(status: &Status) -> bool {
    status.code() == Code::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{code_for, Exit};

    #[test]
    fn codes_decide_the_exit() {
        let e = fail(
            "reading subscription 'x'",
            Status::new(Code::NotFound, "Subscription does not exist"),
        );
        assert_eq!(e.to_string(), "pubsub: reading subscription 'x': not found");
        assert_eq!(code_for(&e), Exit::Broker);
        let e = fail(
            "pulling",
            Status::new(Code::InvalidArgument, "Invalid name"),
        );
        assert_eq!(code_for(&e), Exit::Usage);
        assert!(e.to_string().contains("Invalid name"), "{e}");
        let e = fail("listing", Status::new(Code::PermissionDenied, "no"));
        assert!(e.to_string().contains("Pub/Sub role"), "{e}");
        assert_eq!(code_for(&e), Exit::Broker);
        assert!(!e.to_string().contains('\n'));
    }
}

//! The error answers the OpenAPI description shares between endpoints.
//!
//! Every error is an [`ErrorBody`](crate::error::ErrorBody); what differs per endpoint is
//! which statuses it can answer. The groups below name the common sets, so an endpoint's
//! `responses(...)` lists its success, the errors peculiar to it, and one group:
//!
//! - [`ReadErrors`]: any authenticated call (401, 429);
//! - [`AdminReadErrors`]: reads that need the admin scope (401, 403, 429);
//! - [`WriteErrors`]: changes, which need the admin scope and a Raft leader (401, 403, 429,
//!   503);
//!
//! plus single answers several endpoints share ([`NoSuchUser`], [`BadPath`], …). A row an
//! endpoint lists itself after a group replaces the group's row for that status (e.g. a
//! stricter rate limit).

use std::collections::BTreeMap;

use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::IntoResponses;

/// One error answer: `status` with `description` and an `ErrorBody` JSON body.
fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build()
        .into()
}

const UNAUTHORIZED: (&str, &str) = ("401", "No or invalid API key");
const FORBIDDEN: (&str, &str) = ("403", "Read-only key");
const RATE_LIMITED: (&str, &str) = ("429", "Rate limited");
const NO_LEADER: (&str, &str) = ("503", "No Raft leader");

fn errors(rows: &[(&str, &str)]) -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
    rows.iter()
        .map(|(status, description)| (status.to_string(), error_response(description)))
        .collect()
}

/// Declares a response type for a fixed set of error rows.
macro_rules! error_responses {
    ($(#[$doc:meta])* $name:ident = [$($row:expr),+ $(,)?]) => {
        $(#[$doc])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
                errors(&[$($row),+])
            }
        }
    };
}

error_responses!(
    /// Any call with an API key: 401, 429.
    ReadErrors = [UNAUTHORIZED, RATE_LIMITED]
);
error_responses!(
    /// A read that needs the admin scope: 401, 403, 429.
    AdminReadErrors = [UNAUTHORIZED, FORBIDDEN, RATE_LIMITED]
);
error_responses!(
    /// A change: admin scope, and a Raft leader to commit it: 401, 403, 429, 503.
    WriteErrors = [UNAUTHORIZED, FORBIDDEN, RATE_LIMITED, NO_LEADER]
);
error_responses!(
    /// 400 for a malformed path segment.
    BadPath = [("400", "Bad path")]
);
error_responses!(
    /// 400 for a bad query parameter.
    BadQuery = [("400", "Bad query parameter")]
);
error_responses!(
    /// 400 for a body field that fails validation.
    InvalidField = [("400", "Invalid field")]
);
error_responses!(
    /// 400 for a device reference that is neither an id nor a UUID.
    BadDeviceRef = [("400", "Neither an id nor a UUID")]
);
error_responses!(
    /// 400 for a node id that is not a number.
    BadNodeId = [("400", "Not a node id")]
);
error_responses!(
    /// 415 for a body sent without `Content-Type: application/json`.
    NotJson = [("415", "Body is not JSON")]
);
error_responses!(
    /// 404: the user does not exist.
    NoSuchUser = [("404", "No such user")]
);
error_responses!(
    /// 404: the device does not exist.
    NoSuchDevice = [("404", "No such device")]
);
error_responses!(
    /// 404: the node does not exist.
    NoSuchNode = [("404", "No such node")]
);
error_responses!(
    /// 409: another plan has this name.
    PlanTaken = [("409", "Plan name taken")]
);
error_responses!(
    /// 409: a user's name or Telegram id is taken.
    UserTaken = [("409", "Name or Telegram id taken")]
);

error_responses!(
    /// 404: the ticket does not exist.
    NoSuchTicket = [("404", "No such ticket")]
);
error_responses!(
    /// 409: the ticket is closed (answering needs an open one).
    TicketClosed = [("409", "Ticket closed")]
);
error_responses!(
    /// 404: the payment does not exist.
    NoSuchPayment = [("404", "No such payment")]
);
error_responses!(
    /// 409: the payment is refunded or has a refund in progress.
    NotRefundable = [("409", "Not refundable")]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_hold_their_statuses_with_the_error_body() {
        let w = WriteErrors::responses();
        assert_eq!(
            w.keys().map(String::as_str).collect::<Vec<_>>(),
            ["401", "403", "429", "503"]
        );
        let json = serde_json::to_value(&w["403"]).unwrap();
        assert_eq!(json["description"], "Read-only key");
        assert_eq!(
            json["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody"
        );
        assert_eq!(ReadErrors::responses().len(), 2);
        assert_eq!(AdminReadErrors::responses().len(), 3);
    }
}

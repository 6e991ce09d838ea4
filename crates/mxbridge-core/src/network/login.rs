//! Login flows as typed steps.
//!
//! A flow is a small state machine the network drives: it asks for input (phone number,
//! code, 2FA password), shows something (a QR code that refreshes), or is done. The core
//! renders each step in the management room, feeds the user's answers back, and handles
//! `cancel` at any step. A wrong answer is not an error: the network returns the same step
//! again with instructions that say what was wrong.

use async_trait::async_trait;

use crate::ids::LoginId;
use crate::secret::Secret;

/// One field the user must fill in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputField {
    /// Machine name, the key in the submitted values.
    pub id: String,
    /// What the user is asked for, e.g. "Phone number (with country code)".
    pub label: String,
    /// Whether the answer is secret (password, code): the core redacts the user's message
    /// that carried it, where it can.
    pub secret: bool,
}

/// What to show the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Display {
    /// A QR code to scan; the core sends it as an image and as text.
    Qr(String),
    /// A code to type on the other device (pairing code).
    Code(String),
}

/// One step of a login flow.
#[derive(Clone, Debug)]
pub enum LoginStep {
    /// Ask the user for the given fields; answer with [`LoginProcess::submit`].
    Input {
        /// Stable id of the step, e.g. `phone`, `code`, `password`.
        step_id: String,
        /// What to tell the user.
        instructions: String,
        /// What to ask for; one field is answered by one message.
        fields: Vec<InputField>,
    },
    /// Show something and wait; the core calls [`LoginProcess::wait`] for the next step
    /// (a refreshed QR code, or completion when it was scanned).
    Display {
        /// Stable id of the step.
        step_id: String,
        /// What to tell the user.
        instructions: String,
        /// What to show.
        show: Display,
    },
    /// Logged in.
    Done(NewLogin),
}

/// A completed login, to be stored and loaded with `Network::load_login`.
#[derive(Clone, Debug)]
pub struct NewLogin {
    /// Unique id of the remote account.
    pub id: LoginId,
    /// Human-readable account name (nick, phone number, JID).
    pub remote_name: String,
    /// Non-secret data the network needs to reconnect.
    pub metadata: serde_json::Value,
    /// Secret data (a session, a password); stored encrypted.
    pub secret: Secret<Vec<u8>>,
}

/// Why a login step failed for good (a wrong code is not this: re-ask instead).
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The network cannot be reached; the user can try again later.
    #[error("the network could not be reached: {0}")]
    Unreachable(String),
    /// The remote side refused the login.
    #[error("the login was refused: {0}")]
    Refused(String),
    /// The flow ran out of time (QR codes expired).
    #[error("the login timed out: {0}")]
    TimedOut(String),
    /// The user asked for a flow this network does not have.
    #[error("there is no login flow named `{0}`")]
    UnknownFlow(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl LoginError {
    /// What the user is told, with what to do next.
    pub fn user_message(&self) -> String {
        match self {
            Self::TimedOut(_) => format!("{self}. Send `login` to start again."),
            Self::UnknownFlow(_) => format!("{self}. Send `login` to see the available flows."),
            _ => format!("{self}. Send `login` to try again."),
        }
    }
}

/// A login in progress.
#[async_trait]
pub trait LoginProcess: Send {
    /// The first step. Called once.
    async fn start(&mut self) -> Result<LoginStep, LoginError>;
    /// The user's answers to the current `Input` step, keyed by field id. A wrong answer
    /// returns the same step again (with instructions explaining the problem).
    async fn submit(&mut self, values: Vec<(String, String)>) -> Result<LoginStep, LoginError>;
    /// Waits for the next step after a `Display` step (refreshed QR, scan completed).
    async fn wait(&mut self) -> Result<LoginStep, LoginError>;
    /// Aborts the flow; must release remote resources. Called at most once.
    async fn cancel(&mut self);
}

/// A login flow a network offers (`login` without arguments lists them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginFlow {
    /// Name used in `login <flow>`.
    pub id: String,
    /// One line describing it.
    pub description: String,
}

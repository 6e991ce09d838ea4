//! Message formatting between Matrix (HTML `formatted_body`) and the neutral
//! [`RichText`](crate::network::content::RichText) that networks convert to their own.

pub mod html;

//! `GET /healthz`: whether the database answers.

use rouille::{Request, Response};

use crate::app::App;
use crate::error::{ApiError, Kind};
use crate::http::Params;
use crate::http::reply;
use crate::repo;
use crate::wire::Health;

pub fn check(app: &App, _: &Request, _: &Params) -> Result<Response, ApiError> {
    repo::ping(&app.pool).map_err(|err| {
        log::error!("health check failed: {err}");
        ApiError::new(Kind::Busy, "The database is not answering")
    })?;
    Ok(reply::ok(&Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    }))
}

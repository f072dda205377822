//! Events: one-shot queries and paged history collectors.

use super::manager;
use crate::mo;
use crate::types::DateTime;
use crate::types::{
    AnyEvent, EventFilterSpec, EventFilterSpecByEntity, EventFilterSpecByTime,
    EventFilterSpecRecursionOption, ManagedObjectReference,
};
use crate::{methods, Client, Error};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses an `xsd:dateTime` / RFC 3339 timestamp (`2026-11-23T12:00:00.123Z`,
/// `2026-11-23T13:00:00+01:00`; without an offset it is read as UTC).
pub fn parse_date_time(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let b = s.as_bytes();
    let num = |from: usize, len: usize| digits(s, from, len);
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Nanosecond precision: further digits are dropped.
        let kept = &frac[..digits.min(9)];
        nanos = kept.parse::<u32>().ok()? * 10u32.pow(9 - kept.len() as u32);
        rest = &frac[digits..];
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let (oh, om) = (digits(rest, 1, 2)?, digits(rest, 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs.unsigned_abs(), nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos.into())
    })
}

/// The number written with exactly `len` decimal digits at `from`.
fn digits(s: &str, from: usize, len: usize) -> Option<i64> {
    let part = s.get(from..from + len)?;
    part.bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| part.parse().ok())?
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's
/// algorithm: years start in March so the leap day comes last).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Which events to read: by entity, time window, type and count. Builds an
/// `EventFilterSpec`.
///
/// ```
/// use vim25::object::EventFilter;
/// use vim25::types::{EventFilterSpecRecursionOption, ManagedObjectReference};
/// use vim25::types::DateTime;
///
/// let vm = ManagedObjectReference::new("VirtualMachine", "vm-42");
/// let filter = EventFilter::new()
///     .entity(&vm, EventFilterSpecRecursionOption::Self_)
///     .since(DateTime("2026-01-01T00:00:00Z".into()))
///     .event_types(&["VmPoweredOnEvent", "VmPoweredOffEvent"])
///     .max_count(50);
/// assert_eq!(filter.spec().max_count, Some(50));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    spec: EventFilterSpec,
}

impl EventFilter {
    /// Every event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only events about `entity` (`Self_`), its descendants (`Children`) or both
    /// (`All`).
    pub fn entity(
        mut self,
        entity: &ManagedObjectReference,
        recursion: EventFilterSpecRecursionOption,
    ) -> Self {
        self.spec.entity = Some(EventFilterSpecByEntity {
            entity: entity.clone(),
            recursion,
            ..Default::default()
        });
        self
    }

    /// Only events created at or after `t`.
    pub fn since(mut self, t: DateTime) -> Self {
        self.spec
            .time
            .get_or_insert_with(Default::default)
            .begin_time = Some(t);
        self
    }

    /// Only events created at or before `t`.
    pub fn until(mut self, t: DateTime) -> Self {
        self.spec.time.get_or_insert_with(Default::default).end_time = Some(t);
        self
    }

    /// Only events of these types (`VmPoweredOnEvent`; a base type such as
    /// `VmEvent` takes its subtypes too).
    pub fn event_types(mut self, types: &[&str]) -> Self {
        self.spec.event_type_id = types.iter().map(|t| t.to_string()).collect();
        self
    }

    /// At most `n` events per query (and the page size of a collector).
    pub fn max_count(mut self, n: i32) -> Self {
        self.spec.max_count = Some(n);
        self
    }

    /// The spec as built.
    pub fn spec(&self) -> &EventFilterSpec {
        &self.spec
    }

    /// Whether `event` was created inside the filter's time window (always, when the
    /// filter has none or the event's time does not parse).
    pub fn in_time_window(&self, event: &AnyEvent) -> bool {
        let Some(EventFilterSpecByTime {
            begin_time,
            end_time,
            ..
        }) = &self.spec.time
        else {
            return true;
        };
        let Some(at) = parse_date_time(event.created_time.as_str()) else {
            return true;
        };
        let bound = |t: &Option<DateTime>| t.as_ref().and_then(|t| parse_date_time(t.as_str()));
        bound(begin_time).is_none_or(|b| at >= b) && bound(end_time).is_none_or(|e| at <= e)
    }
}

impl From<EventFilterSpec> for EventFilter {
    fn from(spec: EventFilterSpec) -> Self {
        EventFilter { spec }
    }
}

manager!(
    /// The service's `EventManager`: querying and posting events, creating history
    /// collectors.
    ///
    /// ```no_run
    /// # async fn demo(client: vim25::Client) -> Result<(), vim25::Error> {
    /// use vim25::object::{EventFilter, EventManager};
    /// let events = EventManager::new(&client)?;
    /// for e in events.query(&EventFilter::new().max_count(20)).await? {
    ///     println!("{} {} {}", e.created_time, e.type_name(), e.full_formatted_message.as_deref().unwrap_or(""));
    /// }
    /// let mut history = events.create_collector(&EventFilter::new().max_count(100)).await?;
    /// history.rewind().await?;
    /// while !history.read_next(50).await?.is_empty() {}
    /// history.destroy().await?;
    /// # Ok(()) }
    /// ```
    EventManager,
    event_manager
);

impl EventManager {
    /// The events `filter` selects, as one page (the server caps it; `max_count`
    /// sets it). The time window is also applied here, for servers that ignore it.
    pub async fn query(&self, filter: &EventFilter) -> Result<Vec<AnyEvent>, Error> {
        let mut events =
            methods::query_events(&self.client, &self.reference, &filter.spec, None).await?;
        events.retain(|e| filter.in_time_window(e));
        Ok(events)
    }

    /// The latest event the server recorded.
    pub async fn latest_event(&self) -> Result<Option<AnyEvent>, Error> {
        let m: mo::EventManager =
            super::fetch(&self.client, &self.reference, &["latestEvent"]).await?;
        Ok(m.latest_event)
    }

    /// A history collector of the events `filter` selects, for reading them page by
    /// page.
    pub async fn create_collector(
        &self,
        filter: &EventFilter,
    ) -> Result<EventHistoryCollector, Error> {
        let reference =
            methods::create_collector_for_events(&self.client, &self.reference, &filter.spec)
                .await?;
        Ok(EventHistoryCollector {
            client: self.client.clone(),
            reference,
            destroyed: false,
        })
    }

    /// Records `event`. The server sets its key, chain and time; an empty
    /// `createdTime` (required on the wire) is filled with the server's clock first.
    pub async fn post_event(&self, event: &AnyEvent) -> Result<(), Error> {
        if !event.created_time.as_str().is_empty() {
            return methods::post_event(&self.client, &self.reference, event, None).await;
        }
        let mut event = event.clone();
        event.created_time =
            methods::current_time(&self.client, &self.client.service_instance()).await?;
        methods::post_event(&self.client, &self.reference, &event, None).await
    }

    /// Records a user message about `entity` (a `GeneralUserEvent`).
    pub async fn log_user_event(
        &self,
        entity: &ManagedObjectReference,
        message: &str,
    ) -> Result<(), Error> {
        methods::log_user_event(&self.client, &self.reference, entity, message).await
    }
}

/// A server-side, scrollable view of the events a filter selects. Destroyed by
/// [`EventHistoryCollector::destroy`], or in the background when dropped inside a
/// tokio runtime (servers cap how many collectors a session may hold).
#[derive(Debug)]
pub struct EventHistoryCollector {
    client: Client,
    reference: ManagedObjectReference,
    destroyed: bool,
}

impl EventHistoryCollector {
    /// The collector's reference.
    pub fn reference(&self) -> &ManagedObjectReference {
        &self.reference
    }

    /// The newest events (`latestPage`, as many as the page size).
    pub async fn latest_page(&self) -> Result<Vec<AnyEvent>, Error> {
        let c: mo::EventHistoryCollector =
            super::fetch(&self.client, &self.reference, &["latestPage"]).await?;
        Ok(c.latest_page.unwrap_or_default())
    }

    /// Up to `max` events after the current position, which moves past them; empty
    /// at the end.
    pub async fn read_next(&mut self, max: i32) -> Result<Vec<AnyEvent>, Error> {
        methods::read_next_events(&self.client, &self.reference, max).await
    }

    /// Up to `max` events before the current position, which moves back over them;
    /// empty at the start.
    pub async fn read_previous(&mut self, max: i32) -> Result<Vec<AnyEvent>, Error> {
        methods::read_previous_events(&self.client, &self.reference, max).await
    }

    /// Moves the position to the oldest event.
    pub async fn rewind(&mut self) -> Result<(), Error> {
        methods::rewind_collector(&self.client, &self.reference).await
    }

    /// Moves the position to just before the latest page.
    pub async fn reset(&mut self) -> Result<(), Error> {
        methods::reset_collector(&self.client, &self.reference).await
    }

    /// Sets how many events the latest page holds.
    pub async fn set_page_size(&mut self, n: i32) -> Result<(), Error> {
        methods::set_collector_page_size(&self.client, &self.reference, n).await
    }

    /// Destroys the collector on the server.
    pub async fn destroy(mut self) -> Result<(), Error> {
        self.destroyed = true;
        methods::destroy_collector(&self.client, &self.reference).await
    }
}

impl Drop for EventHistoryCollector {
    fn drop(&mut self) {
        if self.destroyed {
            return;
        }
        let c = self.client.clone();
        let r = self.reference.clone();
        crate::runtime::spawn_cleanup(async move {
            let _ = methods::destroy_collector(&c, &r).await;
        });
    }
}

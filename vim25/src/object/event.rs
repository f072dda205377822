//! Events: one-shot queries and paged history collectors.

use super::manager;
use crate::mo;
use crate::types::DateTime;
use crate::types::{
    AnyEvent, EventFilterSpec, EventFilterSpecByEntity, EventFilterSpecByTime,
    EventFilterSpecRecursionOption, ManagedObjectReference,
};
use crate::{methods, Client, Error};
use std::time::SystemTime;

/// Parses an `xsd:dateTime` / RFC 3339 timestamp (`2026-11-23T12:00:00.123Z`,
/// `2026-11-23T13:00:00+01:00`; without an offset it is read as UTC). The same as
/// [`vim25_core::date_time::parse`] (and [`DateTime::to_system_time`]).
pub fn parse_date_time(s: &str) -> Option<SystemTime> {
    crate::date_time::parse(s)
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

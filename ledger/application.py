"""The ledger application: one method per command, one save per command (or per batch)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar, cast
from uuid import UUID

from cachetools import LRUCache
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Recording, Transcoder
from eventsourcing.utils import get_topic
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from ledger import ids
from ledger.access import ROLES, ApiKey, key_id_for, new_token, token_hash
from ledger.bounds import EARLIEST_ENROLLMENT, check_birth_date
from ledger.clock import Clock, SystemClock
from ledger.commands import (
    Accrue,
    Adjust,
    Command,
    Enroll,
    Redeem,
    ReverseAccrual,
    ReverseRedemption,
)
from ledger.config import Settings
from ledger.errors import (
    IdempotencyConflict,
    InvalidCommand,
    LedgerError,
    NotFound,
)
from ledger.infrastructure.aggregate_cache import AggregateCache
from ledger.infrastructure.collector import collector_paused
from ledger.infrastructure.command_log import log_command
from ledger.infrastructure.events import create
from ledger.infrastructure.group_commit import GroupCommitter
from ledger.infrastructure.transcoder import DateAsISO, OrjsonTranscoder
from ledger.infrastructure.unit_of_work import BulkEventReader, OperationMark, UnitOfWork
from ledger.member import Member, PointsActivated, PointsExpired, TierChanged
from ledger.partner import Partner, PartnerTerms
from ledger.partner_operations import apply_partner_command
from ledger.program import Program, ProgramRules
from ledger.transaction_key import TransactionKey, fingerprint

log = logging.getLogger("ledger.commands")

ENROLLMENT_SCOPE = "#enrollment"
ADJUSTMENT_SCOPE = "#operator"
SAVE_ATTEMPTS = 60
BATCH_CHUNK = 1000

T = TypeVar("T")
# Tuples, not `A | B` unions: a union is built anew each time the expression runs.
_PARTNER_COMMANDS = (Accrue, Redeem, ReverseAccrual, ReverseRedemption)
_MEMBER_NAMED = (Accrue, Redeem)
_KEY_RECORDED: type[Any] = TransactionKey.TransactionRecorded  # type: ignore[attr-defined]


class LogPositions(Protocol):
    """Finds the log position of a stored event (the store's concern, not the ledger's)."""

    def position_of(self, originator_id: UUID, originator_version: int) -> int | None: ...

    def version_of(self, originator_id: UUID) -> int | None: ...


@dataclass
class Outcome:
    """What a command answers: its body, whether it was a replay, and its log position."""

    body: dict[str, Any]
    replayed: bool = False
    position: int | None = None


@dataclass
class SweepReport:
    as_of: datetime
    activated_points: int = 0
    expired_points: int = 0
    members_touched: int = 0
    tier_changes: int = 0
    position: int | None = None


class Ledger(Application[UUID]):
    name = "Ledger"

    def __init__(
        self,
        settings: Settings | None = None,
        clock: Clock | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.clock: Clock = clock or SystemClock()
        # The store's reads the library lacks; wired by projections.eventlog.open_ledger.
        self.positions: LogPositions | None = None
        self.bulk: BulkEventReader | None = None
        self.cache = (
            AggregateCache(self.settings.aggregate_cache_size)
            if self.settings.aggregate_cache_size > 0
            else None
        )
        self.committer = GroupCommitter(self.save) if self.settings.group_commit else None
        # API keys as last loaded, each trusted only while its stored version is unchanged.
        self._keys: LRUCache[UUID, ApiKey] = LRUCache(maxsize=10_000)
        self._keys_lock = threading.Lock()
        # Every command reads the rules; building them (and their tier ladder) is not free.
        self._default_rules = ProgramRules(currency=self.settings.currency)
        # Called with the domain events of every successful save (metrics hook in from api/).
        self.save_observers: list[Callable[[Sequence[Any]], None]] = []
        super().__init__(env={**self.settings.persistence_env(), **(env or {})})

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        if all(isinstance(obj, DomainEvent) for obj in objs):
            recordings = self._save_events(objs, kwargs)
        else:
            recordings = super().save(*objs, **kwargs)
        saved = [recording.domain_event for recording in recordings]
        for observer in self.save_observers:
            try:
                observer(saved)
            except Exception:
                log.exception("save observer failed")
        return recordings

    def construct_transcoder(self) -> Transcoder:
        transcoder = OrjsonTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def _save_events(
        self, domain_events: Sequence[Any], kwargs: dict[str, Any]
    ) -> list[Recording[UUID]]:
        """`Application.save` (eventsourcing 9.5) for events only, which is all we save.

        The library's collect_events tests each object against a runtime Protocol, which on
        Python 3.11 costs about 10 µs per event; these are known to be events.
        """
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        processing_event.events.extend(domain_events)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # deprecated hook; kept as the library calls it
        return recordings

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # ---------------------------------------------------------------- plumbing

    def _retrying(self) -> Retrying:
        # A concurrent save to the same aggregate loses on its primary key; reload and retry.
        return Retrying(
            retry=retry_if_exception_type(IntegrityError),
            stop=stop_after_attempt(SAVE_ATTEMPTS),
            wait=wait_random_exponential(multiplier=0.005, max=0.2),
            reraise=True,
        )

    def _run(
        self,
        handler: Callable[[UnitOfWork, datetime], dict[str, Any]],
        reads: Iterable[UUID] = (),
    ) -> Outcome:
        """Run one command in its own unit of work, retrying on a concurrent write.

        `reads` are the aggregates it will need, loaded together in one query.
        """
        reads = list(reads)
        for attempt in self._retrying():
            with attempt, self.unit_of_work() as uow:
                uow.prefetch(reads)
                with uow.operation() as mark:
                    body = handler(uow, self.clock.now())
                positions = uow.commit(self.committer)
                return self._outcome(body, mark, positions)
        raise AssertionError("unreachable")  # pragma: no cover

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self, self.cache, self.bulk)

    def _outcome(
        self, body: dict[str, Any], mark: OperationMark, positions: dict[tuple[UUID, int], int]
    ) -> Outcome:
        # A replay's position is that of the original operation's last event: its key's.
        replayed = "_anchor" in body
        anchor = mark.anchor
        if replayed:
            anchor = body["_anchor"]
            body = {k: v for k, v in body.items() if k != "_anchor"}
        position = None
        if anchor is not None:
            position = positions.get(anchor)
            if position is None and self.positions is not None:
                position = self.positions.position_of(*anchor)
        return Outcome(body=body, replayed=replayed, position=position)

    def rules(self, uow: UnitOfWork | None = None) -> ProgramRules:
        default = self._default_rules
        if uow is not None:
            program = uow.get(ids.program_id(), Program)
        else:
            program = self._get(ids.program_id(), Program)
        return program.rules(default) if program is not None else default

    def _get(self, aggregate_id: UUID, cls: type[T]) -> T | None:
        try:
            aggregate: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, cls) else None

    @staticmethod
    def _require(aggregate: T | None, what: str) -> T:
        if aggregate is None:
            raise NotFound(f"{what} not found")
        return aggregate

    def _partner(self, uow: UnitOfWork, partner_id: str) -> Partner:
        partner = uow.get(ids.partner_id(partner_id), Partner)
        partner = self._require(partner, f"partner {partner_id}")
        partner.check_active()
        return partner

    def _member(self, uow: UnitOfWork, member_id: str) -> Member:
        return self._require(uow.get(ids.member_id(member_id), Member), f"member {member_id}")

    @staticmethod
    def _replay_or_none(
        uow: UnitOfWork, scope: str, key: str, request_fingerprint: str
    ) -> dict[str, Any] | None:
        key_id = ids.transaction_key_id(scope, key)
        existing = uow.get(key_id, TransactionKey)
        if existing is None:
            return None
        return {**existing.replay(request_fingerprint), "_anchor": (key_id, 1)}

    @staticmethod
    def _record_key(
        uow: UnitOfWork,
        now: datetime,
        scope: str,
        key: str,
        operation: str,
        member_id: str,
        request_fingerprint: str,
        result: dict[str, Any],
    ) -> None:
        uow.add(
            create(
                TransactionKey,
                _KEY_RECORDED,
                ids.transaction_key_id(scope, key),
                timestamp=now,
                partner_id=scope,
                transaction_id=key,
                operation=operation,
                member_id=member_id,
                fingerprint=request_fingerprint,
                result=result,
            )
        )

    # ------------------------------------------------------------------ program

    def program(self) -> ProgramRules:
        return self.rules()

    def configure_program(self, rules: ProgramRules) -> ProgramRules:
        rules.check_bounds()

        def handle(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
            program = uow.get(ids.program_id(), Program)
            if program is None:
                program = Program(timestamp=now)
                uow.add(program)
            if program.rules_data != rules.as_dict():
                program.configure(timestamp=now, rules=rules.as_dict())
            return rules.as_dict()

        self._run(handle)
        return rules

    # ----------------------------------------------------------------- partners

    def register_partner(self, terms: PartnerTerms) -> Outcome:
        terms.check_bounds()

        def handle(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
            existing = uow.get(ids.partner_id(terms.partner_id), Partner)
            if existing is not None:
                if existing.terms != terms:
                    raise IdempotencyConflict(
                        f"partner {terms.partner_id} is already registered with other terms"
                    )
                return {**existing.as_dict(), "_anchor": (existing.id, 1)}
            partner = Partner(timestamp=now, **terms.as_dict())
            uow.add(partner)
            return partner.as_dict()

        return self._run(handle)

    def partner(self, partner_id: str) -> Partner:
        partner = self._get(ids.partner_id(partner_id), Partner)
        return self._require(partner, f"partner {partner_id}")

    def suspend_partner(self, partner_id: str) -> Outcome:
        def handle(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
            partner = self._require(
                uow.get(ids.partner_id(partner_id), Partner), f"partner {partner_id}"
            )
            if partner.status == "active":
                partner.suspend(timestamp=now)
            return partner.as_dict()

        return self._run(handle)

    def reactivate_partner(self, partner_id: str) -> Outcome:
        def handle(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
            partner = self._require(
                uow.get(ids.partner_id(partner_id), Partner), f"partner {partner_id}"
            )
            if partner.status != "active":
                partner.reactivate(timestamp=now)
            return partner.as_dict()

        return self._run(handle)

    def change_partner_terms(self, partner_id: str, changes: dict[str, Any]) -> Outcome:
        """Change a partner's name, rates or pending days; operations from now on use them."""
        if not changes:
            raise InvalidCommand("send at least one term to change")

        def handle(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
            partner = self._require(
                uow.get(ids.partner_id(partner_id), Partner), f"partner {partner_id}"
            )
            partner.change_terms(now, changes)
            return partner.as_dict()

        return self._run(handle)

    def partners(self, after: int = 0, limit: int = 100) -> tuple[list[Partner], int | None]:
        """Partners in the order they were registered, after log position `after`; and the
        position to continue from (None at the end)."""
        return self._registered(Partner.PartnerRegistered, Partner, after, limit)  # type: ignore[attr-defined]

    def api_keys_page(self, after: int = 0, limit: int = 100) -> tuple[list[ApiKey], int | None]:
        """Keys in the order they were issued (revoked ones included), as `partners`."""
        return self._registered(ApiKey.KeyIssued, ApiKey, after, limit)  # type: ignore[attr-defined]

    def _registered(
        self, created: type[Any], cls: type[T], after: int, limit: int
    ) -> tuple[list[T], int | None]:
        notifications = self.recorder.select_notifications(
            start=after + 1, limit=limit + 1, topics=[get_topic(created)]
        )
        page = notifications[:limit]
        found = [self._get(UUID(str(n.originator_id)), cls) for n in page]
        more = page[-1].id if len(notifications) > limit else None
        return [aggregate for aggregate in found if aggregate is not None], more

    # --------------------------------------------------------------------- keys

    def issue_key(
        self, role: str, partner_id: str | None, name: str, token: str | None = None
    ) -> tuple[str, ApiKey]:
        """Issue a key; return the token (shown once) and the key. Only its hash is stored."""
        if role not in ROLES:
            raise InvalidCommand(f"role must be one of {', '.join(ROLES)}", field="role")
        if (role == "partner") != (partner_id is not None):
            raise InvalidCommand(
                "partner_id is required for, and only for, role partner", field="partner_id"
            )
        if partner_id is not None:
            self.partner(partner_id)
        token = token or new_token()
        key_id = key_id_for(token)

        def handle(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
            existing = uow.get(ids.api_key_id(key_id), ApiKey)
            if existing is not None:
                return existing.as_dict()
            key = ApiKey(
                timestamp=now,
                key_id=key_id,
                token_sha256=token_hash(token),
                role=role,
                partner_id=partner_id,
                name=name,
            )
            uow.add(key)
            return key.as_dict()

        self._run(handle)
        return token, self._require(self._get(ids.api_key_id(key_id), ApiKey), "key")

    def api_key(self, key_id: str) -> ApiKey:
        return self._require(self._get(ids.api_key_id(key_id), ApiKey), f"key {key_id}")

    def revoke_key(self, key_id: str) -> None:
        def handle(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
            key = self._require(uow.get(ids.api_key_id(key_id), ApiKey), f"key {key_id}")
            if not key.revoked:
                key.revoke(timestamp=now)
            return key.as_dict()

        self._run(handle)

    def authenticate(self, token: str) -> ApiKey | None:
        """The live key for this token, or None (unknown or revoked).

        Checked against the shared event store on every call: once a revocation is saved,
        every process on every host refuses the key at its next request."""
        aggregate_id = ids.api_key_id(key_id_for(token))
        if self.positions is None:
            key = self._get(aggregate_id, ApiKey)
        else:
            # A revocation is an event, so it moves the key's version: one index probe per
            # request learns of it, and the key's events are decoded only when it moved.
            version = self.positions.version_of(aggregate_id)
            with self._keys_lock:
                key = self._keys.get(aggregate_id)
            if version is None:
                key = None
            elif key is None or key.version != version:
                key = self._get(aggregate_id, ApiKey)
                if key is not None:
                    with self._keys_lock:
                        self._keys[aggregate_id] = key
        return key if key is not None and key.matches(token) else None

    def api_keys(self) -> Iterator[ApiKey]:
        """Every key ever issued, as it stands now (revoked ones included)."""
        after: int | None = 0
        while after is not None:
            keys, after = self.api_keys_page(after, 1000)
            yield from keys

    # ------------------------------------------------------------------ members

    def enroll(self, command: Enroll) -> Outcome:
        return self.execute(command)

    def _enroll(self, uow: UnitOfWork, now: datetime, command: Enroll) -> dict[str, Any]:
        request = fingerprint("enroll", command.fingerprint_data())
        replay = self._replay_or_none(uow, *_idempotency_key(command), request)
        if replay is not None:
            return replay
        if command.partner_id is not None:
            self._partner(uow, command.partner_id)
        if command.enrolled_at is not None and command.enrolled_at > now + timedelta(minutes=5):
            raise InvalidCommand("enrolled_at must not be in the future", field="enrolled_at")
        if command.enrolled_at is not None and command.enrolled_at < EARLIEST_ENROLLMENT:
            raise InvalidCommand(
                f"enrolled_at must not be before {EARLIEST_ENROLLMENT.isoformat()}",
                field="enrolled_at",
            )
        if command.birth_date is not None:
            check_birth_date(command.birth_date, now)
        rules = self.rules(uow)
        member = Member(
            timestamp=now,
            member_id=command.member_id,
            enrolled_at=command.enrolled_at or now,
            birth_date=command.birth_date,
            enrolled_by=command.partner_id or ids.OPERATOR,
            tier=rules.ladder.lowest.code,
        )
        member.grant_enrollment_bonus(now, rules)
        uow.add(member)
        result = {**member.as_dict(), "balance": member.balance()}
        self._record_key(
            uow, now, *_idempotency_key(command), "enroll", command.member_id, request, result
        )
        return result

    def member(self, member_id: str) -> Member:
        return self._require(self._get(ids.member_id(member_id), Member), f"member {member_id}")

    def member_as_of(self, member_id: str, as_of: datetime) -> Member | None:
        """The member as recorded at `as_of`: only events recorded at or before it."""
        aggregate_id = ids.member_id(member_id)
        version = 0
        for domain_event in self.events.get(aggregate_id):
            if cast(Any, domain_event).timestamp > as_of:
                break
            version = domain_event.originator_version
        if version == 0:
            return None
        return cast(Member, self.repository.get(aggregate_id, version=version))

    def change_member_status(
        self, member_id: str, action: str, reason: str | None = None
    ) -> Outcome:
        """Suspend, reactivate or close (with an optional `reason`, kept in the event)."""

        def handle(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
            member = self._member(uow, member_id)
            member.run_due(now, self.rules(uow))
            if action == "close":
                member.close(now, reason)
            else:
                {"suspend": member.suspend, "reactivate": member.reactivate}[action](now)
            return {**member.as_dict(), "balance": member.balance()}

        return self._run(handle)

    def adjust(self, command: Adjust) -> Outcome:
        return self.execute(command)

    def _adjust(self, uow: UnitOfWork, now: datetime, command: Adjust) -> dict[str, Any]:
        request = fingerprint("adjust", command.fingerprint_data())
        replay = self._replay_or_none(uow, *_idempotency_key(command), request)
        if replay is not None:
            return replay
        member = self._member(uow, command.member_id)
        rules = self.rules(uow)
        member.run_due(now, rules)
        member.adjust(
            now, rules, command.adjustment_id, command.points, command.reason, command.allow_debt
        )
        result = {
            "adjustment_id": command.adjustment_id,
            "member_id": command.member_id,
            "points": command.points,
            "reason": command.reason,
            "recorded_at": now,
            "balance": member.balance(),
        }
        self._record_key(
            uow, now, *_idempotency_key(command), "adjust", command.member_id, request, result
        )
        return result

    # --------------------------------------------------------- partner commands

    def accrue(self, command: Accrue) -> Outcome:
        return self.execute(command)

    def redeem(self, command: Redeem) -> Outcome:
        return self.execute(command)

    def reverse_accrual(self, command: ReverseAccrual) -> Outcome:
        return self.execute(command)

    def reverse_redemption(self, command: ReverseRedemption) -> Outcome:
        return self.execute(command)

    def execute(self, command: Command) -> Outcome:
        result = self._execute_alone(command)
        log_command(command, result)
        if isinstance(result, LedgerError):
            raise result
        return result

    def _execute_alone(self, command: Command) -> Outcome | LedgerError:
        try:
            return self._run(
                lambda uow, now: self._handle(uow, now, command), _ids_needed([command])
            )
        except LedgerError as error:
            return error

    def _handle(self, uow: UnitOfWork, now: datetime, command: Command) -> dict[str, Any]:
        if isinstance(command, Enroll):
            return self._enroll(uow, now, command)
        if isinstance(command, Adjust):
            return self._adjust(uow, now, command)
        assert isinstance(command, _PARTNER_COMMANDS)
        scope, key = _idempotency_key(command)
        request = fingerprint(command.operation, command.fingerprint_data())
        replay = self._replay_or_none(uow, scope, key, request)
        if replay is not None:
            return replay
        partner = self._partner(uow, command.partner_id)
        rules = self.rules(uow)
        if isinstance(command, _MEMBER_NAMED):
            member_id = command.member_id
        else:
            member_id = self._original(uow, command)
        member = self._member(uow, member_id)
        member.run_due(now, rules)
        operation_id = str(ids.transaction_key_id(command.partner_id, command.transaction_id))
        result = apply_partner_command(member, partner, rules, now, operation_id, command)
        result["balance"] = member.balance()
        result["recorded_at"] = now
        self._record_key(uow, now, scope, key, command.operation, member_id, request, result)
        return result

    def transaction(self, partner_id: str, transaction_id: str) -> Outcome:
        """A partner's own operation: its original result, tagged with its operation."""
        key_id = ids.transaction_key_id(partner_id, transaction_id)
        key = self._require(self._get(key_id, TransactionKey), f"transaction {transaction_id}")
        return self._outcome(
            {**key.result, "operation": key.operation, "_anchor": (key_id, 1)}, OperationMark(), {}
        )

    def _original(self, uow: UnitOfWork, command: ReverseAccrual | ReverseRedemption) -> str:
        wanted = "accrue" if isinstance(command, ReverseAccrual) else "redeem"
        key = uow.get(
            ids.transaction_key_id(command.partner_id, command.original_transaction_id),
            TransactionKey,
        )
        if key is None or key.operation != wanted:
            kind = "accrual" if wanted == "accrue" else "redemption"
            raise NotFound(f"{kind} {command.original_transaction_id} not found")
        return key.member_id

    # ------------------------------------------------------------------ batches

    def execute_batch(
        self, commands: Sequence[Command], log_commands: bool = True
    ) -> list[Outcome | LedgerError]:
        """Apply commands in order, each atomic on its own, many per transaction.

        If a chunk's transaction loses to a concurrent writer, that chunk is redone one
        command at a time (each with its own retries), so only conflicting work is repeated.
        Without `log_commands` the caller writes each command's log line (`log_command`).
        """
        results: list[Outcome | LedgerError] = []
        # Paused for the whole batch, not per chunk: at a chunk's end its queued events and
        # marks are still alive, and the collection that follows the pause walked them all
        # (about 7 µs per command); at the batch's end only the results are left to walk.
        with collector_paused():
            for start in range(0, len(commands), BATCH_CHUNK):
                chunk = commands[start : start + BATCH_CHUNK]
                try:
                    chunk_results = self._execute_chunk(chunk)
                except IntegrityError:
                    chunk_results = [self._execute_alone(command) for command in chunk]
                if log_commands:
                    for command, result in zip(chunk, chunk_results, strict=True):
                        log_command(command, result)
                results.extend(chunk_results)
        return results

    def _execute_chunk(self, commands: Sequence[Command]) -> list[Outcome | LedgerError]:
        staged: list[tuple[dict[str, Any], OperationMark] | LedgerError] = []
        with collector_paused(), self.unit_of_work() as uow:
            uow.prefetch(_ids_needed(commands))
            for command in commands:
                try:
                    with uow.operation() as mark:
                        body = self._handle(uow, self.clock.now(), command)
                    staged.append((body, mark))
                except LedgerError as error:
                    staged.append(error)
            positions = uow.commit()
        return [
            item if isinstance(item, LedgerError) else self._outcome(item[0], item[1], positions)
            for item in staged
        ]

    # ------------------------------------------------------------------- sweeps

    def member_ids(self) -> Iterable[str]:
        """Every enrolled member, read from the log (used until an index is available)."""
        for state in self._recorded(Member.MemberEnrolled):  # type: ignore[attr-defined]
            yield state["member_id"]

    def _recorded(self, event_class: type[Any]) -> Iterator[dict[str, Any]]:
        """The stored state of every event of one type, in log order."""
        topics = [get_topic(event_class)]
        start = 1
        while True:
            notifications = self.recorder.select_notifications(
                start=start, limit=1000, topics=topics
            )
            if not notifications:
                return
            for notification in notifications:
                yield self.mapper.transcoder.decode(notification.state)
            start = notifications[-1].id + 1

    def sweep(
        self,
        as_of: datetime | None = None,
        member_ids: Iterable[str] | None = None,
    ) -> SweepReport:
        """Emit the activations, expiries and downgrades due at `as_of` for the given members."""
        now = self.clock.now()
        as_of = as_of or now
        if as_of > now:
            raise InvalidCommand("as_of must not be in the future", field="as_of")
        report = SweepReport(as_of=as_of)
        candidates = self.member_ids() if member_ids is None else member_ids
        chunk: list[str] = []
        for member_id in candidates:
            chunk.append(member_id)
            if len(chunk) >= BATCH_CHUNK:
                self._sweep_chunk(chunk, as_of, report)
                chunk = []
        if chunk:
            self._sweep_chunk(chunk, as_of, report)
        return report

    def _sweep_chunk(self, member_ids: list[str], as_of: datetime, report: SweepReport) -> None:
        for attempt in self._retrying():
            with attempt, self.unit_of_work() as uow:
                uow.prefetch(ids.member_id(member_id) for member_id in member_ids)
                rules = None
                marks: list[OperationMark] = []
                for member_id in member_ids:
                    with uow.operation() as mark:
                        rules = rules or self.rules(uow)
                        member = uow.get(ids.member_id(member_id), Member)
                        if member is not None:
                            member.run_due(as_of, rules, now=self.clock.now())
                    marks.append(mark)
                positions = uow.commit()
        for mark in marks:
            if not mark.events:
                continue
            report.members_touched += 1
            for domain_event in mark.events:
                kind = type(domain_event)
                if kind is PointsActivated:
                    report.activated_points += sum(p["points"] for p in domain_event.lots)
                elif kind is PointsExpired:
                    report.expired_points += sum(p["points"] for p in domain_event.lots)
                elif kind is TierChanged:
                    report.tier_changes += 1
            if mark.anchor is not None:
                position = positions.get(mark.anchor)
                if position is not None:
                    report.position = max(report.position or 0, position)


def _idempotency_key(command: Command) -> tuple[str, str]:
    """(scope, key) of the transaction key that makes a command idempotent."""
    if isinstance(command, Enroll):
        return ENROLLMENT_SCOPE, command.member_id  # members are coalition-wide
    if isinstance(command, Adjust):
        return ADJUSTMENT_SCOPE, command.adjustment_id
    assert isinstance(command, _PARTNER_COMMANDS)
    return command.partner_id, command.transaction_id


def _ids_needed(commands: Sequence[Command]) -> Iterable[UUID]:
    """The aggregates a chunk of commands will read, so they can be loaded in one query."""
    yield ids.program_id()
    for command in commands:
        yield ids.transaction_key_id(*_idempotency_key(command))
        member_id = getattr(command, "member_id", None)
        if member_id is not None:
            yield ids.member_id(member_id)
        partner_id = getattr(command, "partner_id", None)
        if partner_id is not None:
            yield ids.partner_id(partner_id)
            original = getattr(command, "original_transaction_id", None)
            if original is not None:
                yield ids.transaction_key_id(partner_id, original)

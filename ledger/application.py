"""The ledger application: one handler per command, found through `HANDLERS`.

Every write is a command (`ledger.commands`). `execute` and `execute_batch` run commands,
each atomic and idempotent on its own; `handle` runs one inside a unit of work: it answers a
retried transaction from its key, else calls the command's handler, which guards, works out
the facts and lets the aggregates trigger their events, then records the key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import JSONTranscoder, Transcoder
from eventsourcing.utils import get_topic

from ledger import ids
from ledger.access import ROLES, ApiKey, key_id_for, new_token, token_hash
from ledger.bounds import EARLIEST_ENROLLMENT, check_birth_date
from ledger.clock import Clock, SystemClock
from ledger.commands import (
    Accrue,
    Adjust,
    ChangePartnerTerms,
    CloseMember,
    Command,
    ConfigureProgram,
    Enroll,
    IssueKey,
    ReactivateMember,
    ReactivatePartner,
    Redeem,
    RegisterPartner,
    ReverseAccrual,
    ReverseRedemption,
    RevokeKey,
    RunDue,
    SuspendMember,
    SuspendPartner,
)
from ledger.config import Settings
from ledger.errors import IdempotencyConflict, InvalidCommand, LedgerError, NotFound
from ledger.infrastructure.aggregate_cache import AggregateCache
from ledger.infrastructure.collector import collector_paused
from ledger.infrastructure.command_log import log_command
from ledger.infrastructure.events import create
from ledger.infrastructure.pipeline import WritePipeline
from ledger.infrastructure.saving import EventSavingApplication
from ledger.infrastructure.store_reads import StoreReads, store_reads_for
from ledger.infrastructure.transcoder import DateAsISO, OrjsonTranscoder
from ledger.infrastructure.unit_of_work import OperationMark, Positions, UnitOfWork
from ledger.member import (
    AccrualReversed,
    Member,
    PointsAccrued,
    PointsActivated,
    PointsExpired,
    PointsRedeemed,
    RedemptionReversed,
    TierChanged,
)
from ledger.money import round_money
from ledger.partner import Partner, PartnerTerms
from ledger.program import Program, ProgramRules
from ledger.transaction_key import TransactionKey, fingerprint

log = logging.getLogger("ledger.commands")

BATCH_CHUNK = 1000
MEMBER_STATUS_COMMANDS: dict[str, type[SuspendMember | ReactivateMember]] = {
    "suspend": SuspendMember,
    "reactivate": ReactivateMember,
}

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
Body = dict[str, Any]
_KEY_RECORDED: type[Any] = TransactionKey.TransactionRecorded  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Handled:
    """What a handler answered; for a replay, the stored event whose position answers it."""

    body: Body
    replay_of: tuple[UUID, int] | None = None


@dataclass
class Outcome:
    """What a command answers: its body, whether it was a replay, and its log position."""

    body: Body
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


Handler = Callable[[Any, UnitOfWork, datetime, Any], "Body | Handled"]
# The handler of each command class; `handles` fills it as the methods below are defined.
HANDLERS: dict[type[Command], Handler] = {}


def handles(command_class: type[Command]) -> Callable[[F], F]:
    """Make the decorated method the handler of `command_class`."""

    def register(method: F) -> F:
        HANDLERS[command_class] = method
        return method

    return register


def _last_event(aggregate: Member, event_class: type[Any]) -> Any:
    """The event of this class the command just triggered."""
    for pending in reversed(aggregate.pending_events):
        if type(pending) is event_class:
            return pending
    raise AssertionError(f"{event_class.__name__} was not triggered")


def _operation_id(partner_id: str, transaction_id: str) -> str:
    """A partner operation's id: that of its transaction key."""
    return str(ids.transaction_key_id(partner_id, transaction_id))


class Ledger(EventSavingApplication):
    name = "Ledger"

    def __init__(
        self,
        settings: Settings | None = None,
        clock: Clock | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.clock: Clock = clock or SystemClock()
        self.cache = (
            AggregateCache(self.settings.aggregate_cache_size)
            if self.settings.aggregate_cache_size > 0
            else None
        )
        # Every command reads the rules; building them (and their tier ladder) is not free.
        self._default_rules = ProgramRules(currency=self.settings.currency)
        # Called with the domain events of every successful save (metrics hook in from api/).
        self.save_observers: list[Callable[[Sequence[Any]], None]] = []
        super().__init__(env={**self.settings.persistence_env(), **(env or {})})
        self.store_reads: StoreReads = store_reads_for(self.recorder)
        # Every write of this process goes through it (ledger/infrastructure/pipeline.py).
        self.pipeline: WritePipeline[Handled, Outcome] = WritePipeline(
            unit_of_work=self.unit_of_work,
            handle=self.handle,
            aggregates_needed=self.aggregates_needed,
            answer=self._outcome,
            versions=self.store_reads.versions_of,
            now=lambda: self.clock.now(),
            lock=getattr(self.recorder, "holding_lock", None),
        )

    def close(self) -> None:
        self.pipeline.close()
        super().close()

    def construct_transcoder(self) -> Transcoder:
        transcoder = OrjsonTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # ------------------------------------------------------------------ running commands

    def execute(self, command: Command) -> Outcome:
        """Run one command; its outcome, or its LedgerError raised."""
        [result] = self.pipeline.execute([command])
        log_command(command, result)
        if isinstance(result, LedgerError):
            raise result
        return result

    def execute_batch(
        self, commands: Sequence[Command], log_commands: bool = True
    ) -> list[Outcome | LedgerError]:
        """Apply commands in order, each atomic on its own, many per transaction (the
        pipeline's groups, shared with whatever else this process writes meanwhile).

        Without `log_commands` the caller writes each command's log line (`log_command`).
        """
        # Paused for the whole batch, not per group: at the end its results are all that
        # is left for the collector to walk.
        with collector_paused():
            results = self.pipeline.execute(commands)
            if log_commands:
                for command, result in zip(commands, results, strict=True):
                    log_command(command, result)
        return results

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self, self.cache, self.store_reads)

    def handle(self, uow: UnitOfWork, now: datetime, command: Command) -> Handled:
        """Run one command in `uow`: a retry answers from its transaction key, anything else
        goes to the command's handler, whose answer the key then keeps."""
        key = command.idempotency_key()
        if key is None:
            return self._handled(HANDLERS[type(command)](self, uow, now, command))
        key_id = ids.transaction_key_id(*key)
        request = fingerprint(command.operation, command.fingerprint_data())
        existing = uow.get(key_id, TransactionKey)
        if existing is not None:
            return Handled(existing.replay(request), replay_of=(key_id, 1))
        handled = self._handled(HANDLERS[type(command)](self, uow, now, command))
        uow.add(
            create(
                TransactionKey,
                _KEY_RECORDED,
                key_id,
                timestamp=now,
                partner_id=key[0],
                transaction_id=key[1],
                operation=command.operation,
                member_id=handled.body["member_id"],
                fingerprint=request,
                result=handled.body,
            )
        )
        return handled

    @staticmethod
    def _handled(answer: Body | Handled) -> Handled:
        return answer if isinstance(answer, Handled) else Handled(answer)

    @staticmethod
    def aggregates_needed(commands: Iterable[Command]) -> Iterator[UUID]:
        """Every aggregate some of `commands` will read, so they can be loaded in one query."""
        yield ids.program_id()
        for command in commands:
            key = command.idempotency_key()
            if key is not None:
                yield ids.transaction_key_id(*key)
            yield from command.aggregates()

    def _outcome(self, handled: Handled, mark: OperationMark, positions: Positions) -> Outcome:
        # A replay's position is that of the original operation's last event: its key's.
        anchor = handled.replay_of or mark.anchor
        return Outcome(
            body=handled.body,
            replayed=handled.replay_of is not None,
            position=self._position(anchor, positions),
        )

    def _position(self, anchor: tuple[UUID, int] | None, positions: Positions) -> int | None:
        if anchor is None:
            return None
        position = positions.get(anchor)
        if position is None:
            position = self.store_reads.position_of(*anchor)
        return position

    # ------------------------------------------------------------------------- reading

    def rules(self, uow: UnitOfWork | None = None) -> ProgramRules:
        default = self._default_rules
        if uow is not None:
            program = uow.get(ids.program_id(), Program)
        else:
            program = self._get(ids.program_id(), Program)
        return program.rules(default) if program is not None else default

    def program(self) -> ProgramRules:
        return self.rules()

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

    def partner(self, partner_id: str) -> Partner:
        partner = self._get(ids.partner_id(partner_id), Partner)
        return self._require(partner, f"partner {partner_id}")

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

    def transaction(self, scope: str, transaction_id: str) -> Outcome:
        """An operation as it was answered, tagged with its operation; `scope` is the
        partner (or `ADJUSTMENT_SCOPE`)."""
        key_id = ids.transaction_key_id(scope, transaction_id)
        key = self._require(self._get(key_id, TransactionKey), f"transaction {transaction_id}")
        return Outcome(
            body={**key.result, "operation": key.operation},
            replayed=True,
            position=self._position((key_id, 1), {}),
        )

    # --------------------------------------------------------------------------- keys

    def api_key(self, key_id: str) -> ApiKey:
        return self._require(self._get(ids.api_key_id(key_id), ApiKey), f"key {key_id}")

    def api_key_version(self, key_id: str) -> int | None:
        """The key's version as stored now (None: no such key), one index probe: a key loaded
        earlier is current while it has this version (a revocation is an event)."""
        return self.store_reads.version_of(ids.api_key_id(key_id))

    def api_keys(self) -> Iterator[ApiKey]:
        """Every key ever issued, as it stands now (revoked ones included)."""
        after: int | None = 0
        while after is not None:
            keys, after = self.api_keys_page(after, 1000)
            yield from keys

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

    # ----------------------------------------------------- the operator's commands, by verb

    def configure_program(self, rules: ProgramRules) -> ProgramRules:
        self.execute(ConfigureProgram(rules))
        return rules

    def register_partner(self, terms: PartnerTerms) -> Outcome:
        return self.execute(RegisterPartner(terms))

    def suspend_partner(self, partner_id: str) -> Outcome:
        return self.execute(SuspendPartner(partner_id))

    def reactivate_partner(self, partner_id: str) -> Outcome:
        return self.execute(ReactivatePartner(partner_id))

    def change_partner_terms(self, partner_id: str, changes: dict[str, Any]) -> Outcome:
        """Change a partner's name, rates or pending days; operations from now on use them."""
        return self.execute(ChangePartnerTerms(partner_id, changes))

    def change_member_status(
        self, member_id: str, action: str, reason: str | None = None
    ) -> Outcome:
        """Suspend, reactivate or close (with an optional `reason`, kept in the event)."""
        if action == "close":
            return self.execute(CloseMember(member_id, reason))
        return self.execute(MEMBER_STATUS_COMMANDS[action](member_id))

    def issue_key(
        self, role: str, partner_id: str | None, name: str, token: str | None = None
    ) -> tuple[str, ApiKey]:
        """Issue a key; return the token (shown once) and the key. Only its hash is stored."""
        token = token or new_token()
        key_id = key_id_for(token)
        self.execute(IssueKey(key_id, token_hash(token), role, partner_id, name))
        return token, self.api_key(key_id)

    def revoke_key(self, key_id: str) -> None:
        self.execute(RevokeKey(key_id))

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
        chunk: list[Command] = []
        for member_id in candidates:
            chunk.append(RunDue(member_id, as_of))
            if len(chunk) >= BATCH_CHUNK:
                self._count_sweep(self.execute_batch(chunk, log_commands=False), report)
                chunk = []
        if chunk:
            self._count_sweep(self.execute_batch(chunk, log_commands=False), report)
        return report

    @staticmethod
    def _count_sweep(outcomes: Iterable[Outcome | LedgerError], report: SweepReport) -> None:
        for outcome in outcomes:
            if isinstance(outcome, NotFound):
                continue  # a member id nobody enrolled: nothing is due for it
            if isinstance(outcome, LedgerError):
                raise outcome
            if outcome.position is None:
                continue  # nothing was due
            report.members_touched += 1
            report.activated_points += outcome.body["activated_points"]
            report.expired_points += outcome.body["expired_points"]
            report.tier_changes += outcome.body["tier_changes"]
            report.position = max(report.position or 0, outcome.position)

    # ------------------------------------------------------------------------ handlers
    # One per command: guard, let the aggregates work out the facts, answer the facts.

    def _partner(self, uow: UnitOfWork, partner_id: str) -> Partner:
        return self._require(uow.get(ids.partner_id(partner_id), Partner), f"partner {partner_id}")

    def _active_partner(self, uow: UnitOfWork, partner_id: str) -> Partner:
        partner = self._partner(uow, partner_id)
        partner.check_active()
        return partner

    def _member(self, uow: UnitOfWork, member_id: str) -> Member:
        return self._require(uow.get(ids.member_id(member_id), Member), f"member {member_id}")

    def _member_now(self, uow: UnitOfWork, now: datetime, member_id: str) -> Member:
        """The member with whatever is due at `now` recorded first (ARCHITECTURE §5)."""
        member = self._member(uow, member_id)
        member.run_due(now, self.rules(uow))
        return member

    def _original_member(self, uow: UnitOfWork, command: ReverseAccrual | ReverseRedemption) -> str:
        """The member of the accrual or redemption a reversal names."""
        wanted, kind = ("accrue", "accrual")
        if isinstance(command, ReverseRedemption):
            wanted, kind = ("redeem", "redemption")
        key = uow.get(
            ids.transaction_key_id(command.partner_id, command.original_transaction_id),
            TransactionKey,
        )
        if key is None or key.operation != wanted:
            raise NotFound(f"{kind} {command.original_transaction_id} not found")
        return key.member_id

    @handles(Enroll)
    def _enroll(self, uow: UnitOfWork, now: datetime, command: Enroll) -> Body:
        if command.partner_id is not None:
            self._active_partner(uow, command.partner_id)
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
        return {**member.as_dict(), "balance": member.balance()}

    @handles(Accrue)
    def _accrue(self, uow: UnitOfWork, now: datetime, command: Accrue) -> Body:
        partner = self._active_partner(uow, command.partner_id)
        member = self._member_now(uow, now, command.member_id)
        accrual_id = _operation_id(command.partner_id, command.transaction_id)
        member.accrue(
            now,
            self.rules(uow),
            partner.terms,
            accrual_id,
            command.transaction_id,
            command.amount,
            command.currency,
            command.occurred_at,
            command.pending_days,
            command.bonus_points,
        )
        accrual = _last_event(member, PointsAccrued)
        return {
            "accrual_id": accrual_id,
            "transaction_id": command.transaction_id,
            "partner_id": partner.partner_id,
            "member_id": member.member_id,
            "amount": round_money(command.amount, command.currency),
            "currency": command.currency,
            "points": accrual.points,
            "base_points": accrual.base_points,
            "tier_multiplier": accrual.tier_multiplier,
            "bonus_points": accrual.bonus_points,
            "status": "pending" if accrual.pending else "available",
            "available_at": accrual.lot["available_at"],
            "expires_at": accrual.lot["expires_at"],
            "balance": member.balance(),
            "recorded_at": now,
        }

    @handles(Redeem)
    def _redeem(self, uow: UnitOfWork, now: datetime, command: Redeem) -> Body:
        partner = self._active_partner(uow, command.partner_id)
        member = self._member_now(uow, now, command.member_id)
        redemption_id = _operation_id(command.partner_id, command.transaction_id)
        member.redeem(
            now,
            self.rules(uow),
            partner.terms,
            redemption_id,
            command.transaction_id,
            command.points,
            command.occurred_at,
            command.description,
        )
        redemption = _last_event(member, PointsRedeemed)
        return {
            "redemption_id": redemption_id,
            "transaction_id": command.transaction_id,
            "partner_id": partner.partner_id,
            "member_id": member.member_id,
            "points": command.points,
            "lots": [{"lot_id": p["lot_id"], "points": p["points"]} for p in redemption.lots],
            "reimbursement_amount": redemption.reimbursement_amount,
            "balance": member.balance(),
            "recorded_at": now,
        }

    @handles(ReverseAccrual)
    def _reverse_accrual(self, uow: UnitOfWork, now: datetime, command: ReverseAccrual) -> Body:
        partner = self._active_partner(uow, command.partner_id)
        member = self._member_now(uow, now, self._original_member(uow, command))
        reversal_id = _operation_id(command.partner_id, command.transaction_id)
        member.reverse_accrual(
            now,
            self.rules(uow),
            partner.partner_id,
            reversal_id,
            command.transaction_id,
            command.original_transaction_id,
            command.refund_amount,
            command.occurred_at,
            command.reason,
        )
        reversal = _last_event(member, AccrualReversed)
        return {
            "reversal_id": reversal_id,
            "transaction_id": command.transaction_id,
            "accrual_transaction_id": command.original_transaction_id,
            "partner_id": partner.partner_id,
            "member_id": member.member_id,
            "points_reversed": reversal.points_reversed,
            "refund_amount": round_money(reversal.refund_amount, reversal.currency),
            "debt_created": reversal.debt_created,
            "balance": member.balance(),
            "recorded_at": now,
        }

    @handles(ReverseRedemption)
    def _reverse_redemption(
        self, uow: UnitOfWork, now: datetime, command: ReverseRedemption
    ) -> Body:
        partner = self._active_partner(uow, command.partner_id)
        member = self._member_now(uow, now, self._original_member(uow, command))
        reversal_id = _operation_id(command.partner_id, command.transaction_id)
        member.reverse_redemption(
            now,
            self.rules(uow),
            partner.partner_id,
            reversal_id,
            command.transaction_id,
            command.original_transaction_id,
            command.occurred_at,
            command.reason,
        )
        restored = _last_event(member, RedemptionReversed)
        return {
            "reversal_id": reversal_id,
            "transaction_id": command.transaction_id,
            "redemption_transaction_id": command.original_transaction_id,
            "partner_id": partner.partner_id,
            "member_id": member.member_id,
            "points_restored": restored.points_restored,
            "balance": member.balance(),
            "recorded_at": now,
        }

    @handles(Adjust)
    def _adjust(self, uow: UnitOfWork, now: datetime, command: Adjust) -> Body:
        member = self._member_now(uow, now, command.member_id)
        member.adjust(
            now,
            self.rules(uow),
            command.adjustment_id,
            command.points,
            command.reason,
            command.allow_debt,
        )
        return {
            "adjustment_id": command.adjustment_id,
            "member_id": command.member_id,
            "points": command.points,
            "reason": command.reason,
            "recorded_at": now,
            "balance": member.balance(),
        }

    @handles(SuspendMember)
    def _suspend_member(self, uow: UnitOfWork, now: datetime, command: SuspendMember) -> Body:
        member = self._member_now(uow, now, command.member_id)
        member.suspend(now)
        return {**member.as_dict(), "balance": member.balance()}

    @handles(ReactivateMember)
    def _reactivate_member(self, uow: UnitOfWork, now: datetime, command: ReactivateMember) -> Body:
        member = self._member_now(uow, now, command.member_id)
        member.reactivate(now)
        return {**member.as_dict(), "balance": member.balance()}

    @handles(CloseMember)
    def _close_member(self, uow: UnitOfWork, now: datetime, command: CloseMember) -> Body:
        member = self._member_now(uow, now, command.member_id)
        member.close(now, command.reason)
        return {**member.as_dict(), "balance": member.balance()}

    @handles(RunDue)
    def _run_due(self, uow: UnitOfWork, now: datetime, command: RunDue) -> Body:
        member = self._member(uow, command.member_id)
        member.run_due(command.as_of, self.rules(uow), now=now)
        due = member.pending_events
        return {
            "member_id": command.member_id,
            "activated_points": _points_in(due, PointsActivated),
            "expired_points": _points_in(due, PointsExpired),
            "tier_changes": sum(1 for e in due if type(e) is TierChanged),
        }

    @handles(ConfigureProgram)
    def _configure_program(self, uow: UnitOfWork, now: datetime, command: ConfigureProgram) -> Body:
        command.rules.check_bounds()
        rules = command.rules.as_dict()
        program = uow.get(ids.program_id(), Program)
        if program is None:
            program = Program(timestamp=now)
            uow.add(program)
        if program.rules_data != rules:
            program.configure(timestamp=now, rules=rules)
        return rules

    @handles(RegisterPartner)
    def _register_partner(
        self, uow: UnitOfWork, now: datetime, command: RegisterPartner
    ) -> Body | Handled:
        terms = command.terms
        terms.check_bounds()
        existing = uow.get(ids.partner_id(terms.partner_id), Partner)
        if existing is not None:
            if existing.terms != terms:
                raise IdempotencyConflict(
                    f"partner {terms.partner_id} is already registered with other terms"
                )
            return Handled(existing.as_dict(), replay_of=(existing.id, 1))
        partner = Partner(timestamp=now, **terms.as_dict())
        uow.add(partner)
        return partner.as_dict()

    @handles(SuspendPartner)
    def _suspend_partner(self, uow: UnitOfWork, now: datetime, command: SuspendPartner) -> Body:
        partner = self._partner(uow, command.partner_id)
        if partner.status == "active":
            partner.suspend(timestamp=now)
        return partner.as_dict()

    @handles(ReactivatePartner)
    def _reactivate_partner(
        self, uow: UnitOfWork, now: datetime, command: ReactivatePartner
    ) -> Body:
        partner = self._partner(uow, command.partner_id)
        if partner.status != "active":
            partner.reactivate(timestamp=now)
        return partner.as_dict()

    @handles(ChangePartnerTerms)
    def _change_partner_terms(
        self, uow: UnitOfWork, now: datetime, command: ChangePartnerTerms
    ) -> Body:
        if not command.changes:
            raise InvalidCommand("send at least one term to change")
        partner = self._partner(uow, command.partner_id)
        partner.change_terms(now, command.changes)
        return partner.as_dict()

    @handles(IssueKey)
    def _issue_key(self, uow: UnitOfWork, now: datetime, command: IssueKey) -> Body:
        if command.role not in ROLES:
            raise InvalidCommand(f"role must be one of {', '.join(ROLES)}", field="role")
        if (command.role == "partner") != (command.partner_id is not None):
            raise InvalidCommand(
                "partner_id is required for, and only for, role partner", field="partner_id"
            )
        if command.partner_id is not None:
            self._partner(uow, command.partner_id)
        existing = uow.get(ids.api_key_id(command.key_id), ApiKey)
        if existing is not None:
            return existing.as_dict()
        key = ApiKey(
            timestamp=now,
            key_id=command.key_id,
            token_sha256=command.token_sha256,
            role=command.role,
            partner_id=command.partner_id,
            name=command.name,
        )
        uow.add(key)
        return key.as_dict()

    @handles(RevokeKey)
    def _revoke_key(self, uow: UnitOfWork, now: datetime, command: RevokeKey) -> Body:
        key = self._require(
            uow.get(ids.api_key_id(command.key_id), ApiKey), f"key {command.key_id}"
        )
        if not key.revoked:
            key.revoke(timestamp=now)
        return key.as_dict()


def _points_in(events: Iterable[Any], event_class: type[Any]) -> int:
    return sum(p["points"] for e in events if type(e) is event_class for p in e.lots)

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IInferenceMarket} from "../interfaces/IInferenceMarket.sol";
import {IInferenceMarketCourt} from "../interfaces/IInferenceMarketCourt.sol";
import {IModelRollouts} from "../interfaces/IModelRollouts.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IProviderRegistry} from "../interfaces/IProviderRegistry.sol";
import {InferenceMarketBase} from "./InferenceMarketBase.sol";
import {JobWords} from "./JobWords.sol";
import {JobWord, JobWordLib} from "./JobWord.sol";
import {ProviderWord} from "./ProviderWord.sol";

/// @title InferenceMarketCourt
/// @notice Challenges of k = 1 results and their juries ({IInferenceMarketCourt}). Deployed once
/// per market with the market's registries, and only ever run by the market's fallback through
/// DELEGATECALL: on the market's storage, balances and MARKET_ROLE. Called directly it refuses.
contract InferenceMarketCourt is InferenceMarketBase, IInferenceMarketCourt {
    using JobWords for uint256[6];

    /// @dev This contract's own address: a call that runs here, not in a market, is refused.
    address private immutable _self;

    /// @notice Refused: the court runs only inside its market (by DELEGATECALL).
    error InferenceMarketCourtDirectCall();

    /// @notice Refused: an item of a {commitAll} or {revealAll} batch failed without a reason
    /// (out of gas). The whole batch reverts, so that no gas estimate counts on items skipped for
    /// want of gas.
    error InferenceMarketCourtItemWithoutReason(uint256 jobId);

    /// @param models_ The market's model registry.
    /// @param providers_ The market's provider registry.
    constructor(
        IModelRegistry models_,
        IProviderRegistry providers_
    ) InferenceMarketBase(address(0), address(0), models_, providers_) {
        _self = address(this);
    }

    modifier onlyDelegated() {
        if (address(this) == _self) revert InferenceMarketCourtDirectCall();
        _;
    }

    /// @inheritdoc IInferenceMarketCourt
    function challenge(
        uint256 jobId,
        uint256[6] calldata job,
        address provider,
        bytes32 resultHash
    ) external onlyDelegated nonReentrant {
        JobWord word = _jobs[jobId];
        if (word.status() != JobStatus.Delivered) revert InferenceMarketInvalidStatus(jobId, word.status());
        if (!word.binds(_deliveryHash(jobId, job, provider, resultHash))) {
            revert InferenceMarketJobMismatch(jobId);
        }
        uint40 endsAt = word.time() + job.challengeWindow();
        if (block.timestamp > endsAt) revert InferenceMarketChallengeWindowClosed(jobId, endsAt);
        if (msg.sender == provider) revert InferenceMarketJuryExcluded(jobId, msg.sender);
        // The bond is the job's collateral; the challenger must be eligible to serve the job.
        _lockFor(msg.sender, job.collateral(), job.requiredTags(), job.minMemoryMB());
        Terms storage t = _terms;
        Challenge memory ch = Challenge({
            provider: provider,
            resultHash: resultHash,
            challenger: msg.sender,
            jurySeed: uint256(keccak256(abi.encode(block.prevrandao, jobId, msg.sender))),
            challengedAt: uint40(block.timestamp),
            commitWindow: t.commitWindow,
            revealWindow: t.revealWindow,
            jurySize: _jury.size,
            juryFee: _jury.fee,
            challengerShareBps: _jury.challengerShareBps
        });
        _jobs[jobId] = JobWordLib.create(
            uint256(keccak256(abi.encode(_jobHash(jobId, job), ch))),
            JobStatus.Challenged
        );
        emit ResultChallenged(jobId, provider, msg.sender, ch);
    }

    /// @inheritdoc IInferenceMarketCourt
    function juryCommit(
        uint256 jobId,
        uint256[6] calldata job,
        Challenge calldata ch,
        bytes32 commitment
    ) external onlyDelegated nonReentrant returns (uint8 seat) {
        JobWord word = _challengeWord(jobId, job, ch);
        if (word.status() != JobStatus.Challenged) revert InferenceMarketInvalidStatus(jobId, word.status());
        uint40 commitDeadline = ch.challengedAt + ch.commitWindow;
        if (block.timestamp > commitDeadline) revert InferenceMarketDeadlinePassed(jobId, commitDeadline);
        if (msg.sender == ch.provider || msg.sender == ch.challenger)
            revert InferenceMarketJuryExcluded(jobId, msg.sender);
        seat = word.seated();
        _lockAssigned(jobId, job, seat, ch.jurySeed, ch.jurySize, _juryWindow(job, ch), ch.challengedAt);
        _seats[jobId][seat] = uint160(msg.sender);
        _seatValues[jobId][seat] = _boundTo(commitment, msg.sender);
        word = word.withSeat();
        emit SeatCommitted(jobId, msg.sender, seat, commitment);
        if (seat + 1 == ch.jurySize) word = _startJuryReveal(jobId, ch, word, uint40(block.timestamp));
        _jobs[jobId] = word;
    }

    /// @inheritdoc IInferenceMarketCourt
    function juryReveal(
        uint256 jobId,
        uint256[6] calldata job,
        Challenge calldata ch,
        uint8 seat,
        bytes32 resultHash,
        bytes32 salt,
        bytes calldata outputRef
    ) external onlyDelegated nonReentrant {
        JobWord word = _challengeWord(jobId, job, ch);
        JobStatus status = word.status();
        uint40 commitDeadline = ch.challengedAt + ch.commitWindow;
        if (status == JobStatus.Challenged && block.timestamp > commitDeadline && word.seated() >= _juryQuorum(ch)) {
            word = _startJuryReveal(jobId, ch, word, commitDeadline);
            status = JobStatus.JuryRevealing;
        }
        if (status != JobStatus.JuryRevealing) revert InferenceMarketInvalidStatus(jobId, status);
        uint40 revealDeadline = word.time() + ch.revealWindow;
        if (block.timestamp > revealDeadline) revert InferenceMarketRevealClosed(jobId, revealDeadline);
        word = _revealSeat(jobId, word, seat, resultHash, salt, outputRef);
        if (word.revealed() == word.seated()) _resolve(jobId, job, ch, word);
        else _jobs[jobId] = word;
    }

    /// @inheritdoc IInferenceMarketCourt
    function resolveChallenge(
        uint256 jobId,
        uint256[6] calldata job,
        Challenge calldata ch
    ) external onlyDelegated nonReentrant {
        JobWord word = _challengeWord(jobId, job, ch);
        JobStatus status = word.status();
        if (status == JobStatus.Challenged) {
            uint40 commitDeadline = ch.challengedAt + ch.commitWindow;
            if (block.timestamp <= commitDeadline) revert InferenceMarketNotResolvable(jobId, status);
            if (word.seated() < _juryQuorum(ch)) return _resolveUnfilled(jobId, job, ch, word);
            word = _startJuryReveal(jobId, ch, word, commitDeadline);
            status = JobStatus.JuryRevealing;
        }
        if (status != JobStatus.JuryRevealing || block.timestamp <= word.time() + ch.revealWindow) {
            revert InferenceMarketNotResolvable(jobId, status);
        }
        _resolve(jobId, job, ch, word);
    }

    /// @dev The word of a challenged job (Challenged or JuryRevealing), checked against the
    /// challenge passed back. A challenge that ended Settled binds its delivery again
    /// ({_settledDelivery}): that word is matched against the challenge's delivery, so that a
    /// late call is refused by its status as before.
    function _challengeWord(
        uint256 jobId,
        uint256[6] calldata job,
        Challenge calldata ch
    ) private view returns (JobWord word) {
        word = _jobs[jobId];
        uint256 jobHash = _jobHash(jobId, job);
        if (word.binds(uint256(keccak256(abi.encode(jobHash, ch))))) return word;
        if (
            word.status() == JobStatus.Settled &&
            word.binds(uint256(keccak256(abi.encode(jobHash, ch.provider, ch.resultHash))))
        ) return word;
        revert InferenceMarketJobMismatch(jobId);
    }

    function _startJuryReveal(
        uint256 jobId,
        Challenge calldata ch,
        JobWord word,
        uint40 startedAt
    ) private returns (JobWord) {
        word = word.withStatus(JobStatus.JuryRevealing).withTime(startedAt);
        emit RevealStarted(jobId, startedAt + ch.revealWindow);
        return word;
    }

    /// @dev Seconds each jury rank beyond the first `jurySize` waits for its turn: the job's
    /// priority window, or, where the DAO turned assignment off, a sixteenth of the jury's commit
    /// window (at least 1 s). A jury is always seated in its seed's order, so a challenger cannot
    /// fill one with providers it controls in the challenge's own block.
    function _juryWindow(uint256[6] calldata job, Challenge calldata ch) private pure returns (uint256) {
        if (job.priorityWindow() != 0) return job.priorityWindow();
        uint256 window = uint256(ch.commitWindow) / 16;
        return window == 0 ? 1 : window;
    }

    function _juryQuorum(Challenge calldata ch) private pure returns (uint256) {
        return uint256(ch.jurySize) / 2 + 1;
    }

    /// @dev What a resolved challenge pays, in the stake token, from the loser's collateral.
    struct Verdict {
        ChallengeOutcome outcome;
        address loser;
        uint256 seized; // from the loser
        uint256 perJuror; // to each majority juror
        uint256 toChallenger;
        uint256 toProvider;
        uint256 toClient;
    }

    /// @dev Resolves a challenge whose jury revealed (or whose reveal window passed). The jury
    /// round is settled like a k > 1 round (silent and minority jurors are faulty and pay the
    /// client and the others, see {_settleRound}); then the verdict between the parties: with a
    /// jury quorum on another result the provider loses its collateral and the client its fee
    /// (refunded); with a quorum on the provider's result the challenger loses its bond; without
    /// a quorum the provider is paid and nobody loses.
    function _resolve(uint256 jobId, uint256[6] calldata job, Challenge calldata ch, JobWord word) private {
        Round memory r;
        SeatView[] memory seats;
        (seats, r.winner, r.agreeing) = _loadSeats(jobId, word);
        r.quorum = r.agreeing >= _juryQuorum(ch);
        _classify(r, seats, job.collateral());
        Verdict memory v = _verdict(r, job, ch);

        // Effects: the job ends, seats are deleted, every credit is written.
        _clearSeats(jobId, seats.length);
        _distributePool(r, job.client(), seats);
        if (v.outcome == ChallengeOutcome.ProviderWrong) {
            _jobs[jobId] = word.withStatus(JobStatus.Refunded);
            _credit(job.client(), job.token(), _escrowOf(1, job.feePerProvider(), job.protocolFeeBps()));
        } else {
            _jobs[jobId] = _settledDelivery(jobId, job, ch, word);
            _payDelivery(job, ch.provider);
        }
        _creditVerdict(v, job.client(), ch, seats);

        // Interactions: the registry releases, counts and seizes; the seized tokens back the
        // credits above.
        _settleSeats(jobId, job.collateral(), seats, r);
        _settleParties(jobId, job.collateral(), ch, v);
        if (r.compensated != seats.length) {
            emit SlashDistributed(jobId, r.pool, r.toClient, r.perRevealer, uint8(r.compensated));
        }
        emit ChallengeResolved(jobId, v.outcome, r.winner, uint8(r.agreeing), v.toChallenger, v.toProvider, v.toClient);
        _countRollout(
            jobId,
            job,
            v.outcome == ChallengeOutcome.ProviderWrong
                ? IModelRollouts.JobOutcome.Disputed
                : IModelRollouts.JobOutcome.Settled
        );
    }

    /// @dev Who lost a challenge and how its seized collateral is shared: the majority jurors'
    /// fee first (capped by what was seized), then the challenger's share (provider wrong) or
    /// everything left to the provider (provider right); the client gets the rest and the dust.
    function _verdict(
        Round memory r,
        uint256[6] calldata job,
        Challenge calldata ch
    ) private pure returns (Verdict memory v) {
        if (!r.quorum) {
            v.outcome = ChallengeOutcome.Inconclusive;
            return v;
        }
        if (r.winner == ch.resultHash) {
            (v.outcome, v.loser) = (ChallengeOutcome.ProviderRight, ch.challenger);
        } else {
            (v.outcome, v.loser) = (ChallengeOutcome.ProviderWrong, ch.provider);
        }
        v.seized = job.collateral();
        v.perJuror = ch.juryFee;
        if (r.agreeing * v.perJuror > v.seized) v.perJuror = v.seized / r.agreeing;
        uint256 rest = v.seized - r.agreeing * v.perJuror;
        if (v.outcome == ChallengeOutcome.ProviderWrong) {
            v.toChallenger = (rest * ch.challengerShareBps) / BPS;
            v.toClient = rest - v.toChallenger;
        } else {
            v.toProvider = rest;
        }
    }

    function _creditVerdict(Verdict memory v, address client, Challenge calldata ch, SeatView[] memory seats) private {
        address stake = address(_stake);
        if (v.perJuror != 0) {
            for (uint256 i = 0; i < seats.length; ++i) {
                if (!seats[i].faulty) _credit(seats[i].provider, stake, v.perJuror);
            }
        }
        if (v.toChallenger != 0) _credit(ch.challenger, stake, v.toChallenger);
        if (v.toProvider != 0) _credit(ch.provider, stake, v.toProvider);
        if (v.toClient != 0) _credit(client, stake, v.toClient);
    }

    /// @dev Ends a party's part in a resolved challenge: seizes its collateral (all of it is
    /// `seized`) and counts a disagreement if it `lost`, else gives its collateral back.
    function _settleParty(uint256 jobId, address party, uint256 collateral, bool lost, uint256 seized) private {
        if (lost) providers.seize(party, seized, IProviderRegistry.Fault.Disagreed, bytes32(jobId));
        else _release(party, collateral);
    }

    /// @dev Releases the parties' collateral and bond, seizing the loser's (checked to arrive).
    function _settleParties(uint256 jobId, uint256 collateral, Challenge calldata ch, Verdict memory v) private {
        uint256 held = v.seized != 0 ? _stake.balanceOf(address(this)) : 0;
        bool providerLost = v.outcome == ChallengeOutcome.ProviderWrong;
        bool challengerLost = v.outcome == ChallengeOutcome.ProviderRight;
        _settleParty(jobId, ch.provider, collateral, providerLost, v.seized);
        _settleParty(jobId, ch.challenger, collateral, challengerLost, v.seized);
        if (v.loser != address(0)) emit SeatSlashed(jobId, v.loser, v.seized, true);
        if (v.seized != 0) {
            uint256 received = _stake.balanceOf(address(this)) - held;
            if (received != v.seized) revert InferenceMarketTransferShortfall(address(_stake), v.seized, received);
        }
    }

    /// @dev The word of a challenged delivery that stands (Settled): it binds the delivery again,
    /// (job hash, provider, result), as a claimed delivery's word does, so that
    /// {IInferenceMarket-isFinalResult} reads every settled k = 1 job alike. Nothing reads a
    /// settled word's challenge hash.
    function _settledDelivery(
        uint256 jobId,
        uint256[6] calldata job,
        Challenge calldata ch,
        JobWord word
    ) private pure returns (JobWord) {
        return word.withStatus(JobStatus.Settled).rebind(_deliveryHash(jobId, job, ch.provider, ch.resultHash));
    }

    /// @dev Ends a challenge whose jury never reached a quorum of seats: nobody is at fault; the
    /// provider is paid (the optimistic default) and every collateral and the bond released.
    function _resolveUnfilled(uint256 jobId, uint256[6] calldata job, Challenge calldata ch, JobWord word) private {
        (SeatView[] memory seats, , ) = _loadSeats(jobId, word);
        _clearSeats(jobId, seats.length);
        _jobs[jobId] = _settledDelivery(jobId, job, ch, word);
        _payDelivery(job, ch.provider);
        Verdict memory v; // Inconclusive, nothing seized
        v.outcome = ChallengeOutcome.Inconclusive;
        emit ChallengeResolved(jobId, ChallengeOutcome.Inconclusive, bytes32(0), 0, 0, 0, 0);
        _releaseSeats(job, seats);
        _settleParties(jobId, job.collateral(), ch, v);
        _countRollout(jobId, job, IModelRollouts.JobOutcome.Settled);
    }

    /// @inheritdoc IInferenceMarketCourt
    function claim(Claim[] calldata claims) external onlyDelegated nonReentrant returns (uint256 claimed) {
        for (uint256 i = 0; i < claims.length; ++i) {
            Claim calldata c = claims[i];
            (bytes4 reason, JobWord word) = _claimError(c);
            if (reason != bytes4(0)) {
                emit ClaimSkipped(c.jobId, reason);
                continue;
            }
            _jobs[c.jobId] = word.withStatus(JobStatus.Settled);
            _payDelivery(c.job, c.provider);
            emit DeliveryClaimed(c.jobId, c.provider, c.job.feePerProvider());
            _release(c.provider, c.job.collateral());
            _countRollout(c.jobId, c.job, IModelRollouts.JobOutcome.Settled);
            ++claimed;
        }
    }

    /// @inheritdoc IInferenceMarketCourt
    /// @dev As {revealAll}: each item is the market's own `commit`, by DELEGATECALL.
    function commitAll(Commit[] calldata commits) external onlyDelegated returns (uint256 committed) {
        for (uint256 i = 0; i < commits.length; ++i) {
            Commit calldata c = commits[i];
            (bool ok, bytes4 reason) = _asMarket(
                c.jobId,
                abi.encodeCall(IInferenceMarket.commit, (c.jobId, c.job, c.commitment))
            );
            if (ok) {
                ++committed;
            } else {
                emit CommitSkipped(c.jobId, msg.sender, reason);
            }
        }
    }

    /// @inheritdoc IInferenceMarketCourt
    /// @dev Each item is the market's own `reveal`, run by DELEGATECALL on this (the market's)
    /// address, so the sender stays `msg.sender` and a refused item reverts alone. Not
    /// nonReentrant itself: each `reveal` takes the guard.
    function revealAll(Reveal[] calldata reveals) external onlyDelegated returns (uint256 revealed) {
        for (uint256 i = 0; i < reveals.length; ++i) {
            Reveal calldata r = reveals[i];
            (bool ok, bytes4 reason) = _asMarket(
                r.jobId,
                abi.encodeCall(IInferenceMarket.reveal, (r.jobId, r.job, r.seat, r.resultHash, r.salt, r.outputRef))
            );
            if (ok) {
                ++revealed;
            } else {
                emit RevealSkipped(r.jobId, msg.sender, reason);
            }
        }
    }

    /// @dev Runs `call` (job `jobId`'s) on the market's own code as the sender (DELEGATECALL on
    /// this, the market's, address); if it reverts, returns the selector of its error. Every
    /// error of the market's has one: a failure without one ran out of gas, and reverts the batch.
    function _asMarket(uint256 jobId, bytes memory call) private returns (bool ok, bytes4 reason) {
        bytes memory err;
        // solhint-disable-next-line avoid-low-level-calls
        (ok, err) = address(this).delegatecall(call);
        if (ok) return (true, bytes4(0));
        if (err.length < 4) revert InferenceMarketCourtItemWithoutReason(jobId);
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            reason := mload(add(err, 0x20))
        }
    }

    /// @inheritdoc IInferenceMarketCourt
    function setChallengePolicy(
        ChallengePolicy calldata challengePolicy_
    ) external onlyDelegated onlyRole(DEFAULT_ADMIN_ROLE) {
        _setChallengePolicy(challengePolicy_);
    }

    /// @inheritdoc IInferenceMarketCourt
    function challengePolicy() external view onlyDelegated returns (ChallengePolicy memory) {
        return
            ChallengePolicy({
                challengeWindow: _seatTerms.challengeWindow,
                jurySize: _jury.size,
                juryFee: _jury.fee,
                challengerShareBps: _jury.challengerShareBps
            });
    }

    // ------------------------------------------------------------------ DAO

    /// @inheritdoc IInferenceMarketCourt
    function setPolicy(Policy calldata policy_) external onlyDelegated onlyRole(DEFAULT_ADMIN_ROLE) {
        _setPolicy(policy_);
    }

    /// @inheritdoc IInferenceMarketCourt
    function windDown() external onlyDelegated onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_seatTerms.woundDown) revert InferenceMarketWoundDown();
        _seatTerms.woundDown = true;
        emit MarketWoundDown();
        // The registry is trusted: it revokes this market's MARKET_ROLE and grants it
        // RETIRED_MARKET_ROLE, so no new collateral can be locked here.
        providers.retireMarket();
    }

    /// @inheritdoc IInferenceMarketCourt
    function woundDown() external view onlyDelegated returns (bool) {
        return _seatTerms.woundDown;
    }

    /// @inheritdoc IInferenceMarketCourt
    function mirroredJobTerms(
        bytes32 modelId,
        uint32 version,
        uint256 seed
    )
        external
        view
        onlyDelegated
        returns (uint32 resolved, bool accepting, uint96 minFee, uint32 minMemoryMB, bool counted)
    {
        return _mirrorTerms(modelId, version, seed);
    }

    /// @inheritdoc IInferenceMarketCourt
    function syncProvider(address provider, uint256 terms, uint256 rosterSize) external onlyDelegated {
        if (msg.sender != address(providers)) revert InferenceMarketNotProviderRegistry(msg.sender);
        uint256 w = _providerWords[provider];
        uint256 synced = (w & ProviderWord.FREE_MASK) | terms;
        if (synced != w) _providerWords[provider] = synced;
        // The registry's roster is below 2^32 members (its slot is 32 bits).
        if (_seatTerms.rosterSize != rosterSize) _seatTerms.rosterSize = uint32(rosterSize);
        emit ProviderMirrored(provider, terms, rosterSize);
    }

    /// @inheritdoc IInferenceMarketCourt
    function reclaimCollateral(address provider, uint256 amount) external onlyDelegated returns (uint256 taken) {
        if (msg.sender != address(providers)) revert InferenceMarketNotProviderRegistry(msg.sender);
        uint256 w = _providerWords[provider];
        uint256 free = ProviderWord.free(w);
        taken = free < amount ? free : amount;
        if (taken == 0) return 0;
        _providerWords[provider] = ProviderWord.withFree(w, free - taken);
        emit CollateralReclaimed(provider, taken);
    }

    /// @inheritdoc IInferenceMarketCourt
    function providerCollateral(
        address provider
    )
        external
        view
        onlyDelegated
        returns (bool eligible, uint256 tags, uint32 memoryMB, uint256 rosterIndex, uint256 rosterSize, uint256 free)
    {
        uint256 w = _providerWords[provider];
        uint256 slot = ProviderWord.rosterSlot(w);
        eligible = slot != 0 && block.timestamp >= ProviderWord.frozenUntil(w);
        rosterIndex = slot == 0 ? type(uint256).max : slot - 1;
        return (
            eligible,
            ProviderWord.tags(w),
            ProviderWord.memoryMB(w),
            rosterIndex,
            _seatTerms.rosterSize,
            ProviderWord.free(w)
        );
    }

    /// @inheritdoc IInferenceMarketCourt
    function setTokenAllowed(
        address token,
        bool allowed,
        uint128 ratePerEth
    ) external onlyDelegated onlyRole(DEFAULT_ADMIN_ROLE) {
        if (token == address(0)) revert InferenceMarketZeroAddress();
        // A zero rate would make every version free in the token.
        if (allowed && ratePerEth == 0) revert InferenceMarketPolicyOutOfBounds("ratePerEth", 0);
        _paymentTokens[token] = PaymentToken({allowed: allowed, ratePerEth: ratePerEth});
        emit TokenAllowed(token, allowed, ratePerEth);
    }

    /// @inheritdoc IInferenceMarketCourt
    function setTreasury(address treasury_) external onlyDelegated onlyRole(DEFAULT_ADMIN_ROLE) {
        if (treasury_ == address(0)) revert InferenceMarketZeroAddress();
        treasury = treasury_;
        emit TreasurySet(treasury_);
    }

    /// @inheritdoc IInferenceMarketCourt
    function withdrawProtocolFees(address token) external onlyDelegated nonReentrant returns (uint256 amount) {
        address to = treasury;
        if (msg.sender != to && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) {
            revert AccessControlUnauthorizedAccount(msg.sender, DEFAULT_ADMIN_ROLE);
        }
        amount = _protocolFees[token];
        if (amount == 0) revert InferenceMarketNothingToWithdraw(to, token);
        _protocolFees[token] = 0;
        emit ProtocolFeesWithdrawn(token, to, amount);
        _send(token, to, amount);
    }

    /// @dev The reason a claim item cannot be paid, as an error selector (zero if it can), and
    /// the job's word.
    function _claimError(Claim calldata c) internal view returns (bytes4, JobWord word) {
        word = _jobs[c.jobId];
        if (word.status() != JobStatus.Delivered) return (InferenceMarketInvalidStatus.selector, word);
        if (!word.binds(_deliveryHash(c.jobId, c.job, c.provider, c.resultHash))) {
            return (InferenceMarketJobMismatch.selector, word);
        }
        if (block.timestamp <= uint256(word.time()) + c.job.challengeWindow()) {
            return (InferenceMarketChallengeWindowOpen.selector, word);
        }
        return (bytes4(0), word);
    }
}

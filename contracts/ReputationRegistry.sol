// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Owned} from "./libraries/Owned.sol";
import {IReputationRegistry} from "./interfaces/IReputationRegistry.sol";

/// @title ReputationRegistry
/// @notice Seven-dimension reputation of compute nodes (design doc, "Reputation Score"). Only
/// authorised contracts (job manager, proof of compute, node registry) update it.
contract ReputationRegistry is Owned, IReputationRegistry {
    /// @notice Thrown when a basis-point value is above 10,000.
    error Reputation__BpsOutOfRange(uint256 bps);

    /// @notice Emitted whenever a node's record changes, with its new score.
    event ReputationUpdated(bytes32 indexed nodePubkey, bytes32 indexed dimension, uint256 score);

    /// @dev The raw counters behind the seven dimensions.
    struct Record {
        uint32 totalDeals;
        uint32 successfulDeals;
        uint32 violationCount;
        uint32 slashCount;
        uint32 proofsChecked;
        uint32 proofsPassed;
        uint16 bandwidthBps;
        uint32 lineageContribs;
        uint32 slashFreeEpochs;
        uint32 jobsCompleted;
        uint32 jobsFailed;
    }

    uint256 public constant BPS = 10_000;
    uint256 public constant MAX_REPUTATION = 1_000_000;
    /// @dev Weights of the formula in the design doc: 30/25/15/10/10/10 percent.
    uint256 public constant W_UPTIME = 3_000;
    uint256 public constant W_PROOF = 2_500;
    uint256 public constant W_BANDWIDTH = 1_500;
    uint256 public constant W_LINEAGE = 1_000;
    uint256 public constant W_SLASH_FREE = 1_000;
    uint256 public constant W_JOBS = 1_000;
    /// @dev Each lineage contribution is worth 5% of that dimension, full at 20.
    uint256 public constant LINEAGE_BPS_EACH = 500;
    /// @dev Each slash-free epoch is worth 2% of that dimension, full at 50.
    uint256 public constant SLASH_FREE_BPS_EACH = 200;
    /// @dev Violation penalty: 10% per violation, 25% per slash, at most 100%.
    uint256 public constant VIOLATION_PENALTY_BPS = 1_000;
    uint256 public constant SLASH_PENALTY_BPS = 2_500;
    /// @dev Scales a basis-point score to the 1,000,000 cap.
    uint256 private constant SCALE = MAX_REPUTATION / BPS;

    mapping(bytes32 nodePubkey => Record record) private _records;

    /// @inheritdoc IReputationRegistry
    function recordDeal(bytes32 nodePubkey, bool success) external onlyAuthorised {
        Record storage r = _records[nodePubkey];
        r.totalDeals += 1;
        if (success) r.successfulDeals += 1;
        emit ReputationUpdated(nodePubkey, "deal", reputationOf(nodePubkey));
    }

    /// @inheritdoc IReputationRegistry
    function recordProof(bytes32 nodePubkey, bool passed) external onlyAuthorised {
        Record storage r = _records[nodePubkey];
        r.proofsChecked += 1;
        if (passed) r.proofsPassed += 1;
        emit ReputationUpdated(nodePubkey, "proof", reputationOf(nodePubkey));
    }

    /// @inheritdoc IReputationRegistry
    function recordJob(bytes32 nodePubkey, bool completed) external onlyAuthorised {
        Record storage r = _records[nodePubkey];
        if (completed) r.jobsCompleted += 1;
        else r.jobsFailed += 1;
        emit ReputationUpdated(nodePubkey, "job", reputationOf(nodePubkey));
    }

    /// @inheritdoc IReputationRegistry
    function recordSlash(bytes32 nodePubkey) external onlyAuthorised {
        Record storage r = _records[nodePubkey];
        r.slashCount += 1;
        r.slashFreeEpochs = 0;
        emit ReputationUpdated(nodePubkey, "slash", reputationOf(nodePubkey));
    }

    /// @inheritdoc IReputationRegistry
    function recordViolation(bytes32 nodePubkey) external onlyAuthorised {
        _records[nodePubkey].violationCount += 1;
        emit ReputationUpdated(nodePubkey, "violation", reputationOf(nodePubkey));
    }

    /// @notice Sets the measured bandwidth score of a node.
    /// @param nodePubkey The node.
    /// @param bps Score in basis points (10,000 = best).
    function setBandwidthScore(bytes32 nodePubkey, uint256 bps) external onlyAuthorised {
        if (bps > BPS) revert Reputation__BpsOutOfRange(bps);
        _records[nodePubkey].bandwidthBps = uint16(bps);
        emit ReputationUpdated(nodePubkey, "bandwidth", reputationOf(nodePubkey));
    }

    /// @notice Credits model or dataset lineage contributions.
    /// @param nodePubkey The node.
    /// @param count How many contributions to add.
    function recordLineage(bytes32 nodePubkey, uint32 count) external onlyAuthorised {
        _records[nodePubkey].lineageContribs += count;
        emit ReputationUpdated(nodePubkey, "lineage", reputationOf(nodePubkey));
    }

    /// @notice Credits one epoch without a slash.
    /// @param nodePubkey The node.
    function recordEpoch(bytes32 nodePubkey) external onlyAuthorised {
        _records[nodePubkey].slashFreeEpochs += 1;
        emit ReputationUpdated(nodePubkey, "epoch", reputationOf(nodePubkey));
    }

    /// @notice The raw counters of a node.
    function getRecord(bytes32 nodePubkey) external view returns (Record memory) {
        return _records[nodePubkey];
    }

    /// @notice The reputation of a node, 0 to 1,000,000:
    /// (0.3 uptime + 0.25 proofs + 0.15 bandwidth + 0.1 lineage + 0.1 slash-free + 0.1 jobs)
    /// x (1 - violation penalty).
    function reputationOf(bytes32 nodePubkey) public view returns (uint256) {
        Record storage r = _records[nodePubkey];
        uint256 weighted = W_UPTIME * _ratio(r.successfulDeals, r.totalDeals)
            + W_PROOF * _ratio(r.proofsPassed, r.proofsChecked) + W_BANDWIDTH * r.bandwidthBps
            + W_LINEAGE * _capped(uint256(r.lineageContribs) * LINEAGE_BPS_EACH)
            + W_SLASH_FREE * _capped(uint256(r.slashFreeEpochs) * SLASH_FREE_BPS_EACH)
            + W_JOBS * _ratio(r.jobsCompleted, uint256(r.jobsCompleted) + r.jobsFailed);
        uint256 penalty = _capped(
            uint256(r.violationCount) * VIOLATION_PENALTY_BPS + uint256(r.slashCount) * SLASH_PENALTY_BPS
        );
        uint256 score = weighted * (BPS - penalty) / BPS / BPS * SCALE;
        return score > MAX_REPUTATION ? MAX_REPUTATION : score;
    }

    function _ratio(uint256 part, uint256 whole) private pure returns (uint256) {
        return whole == 0 ? 0 : part * BPS / whole;
    }

    function _capped(uint256 bps) private pure returns (uint256) {
        return bps > BPS ? BPS : bps;
    }
}

/**
 * The data-access half of `ArthaDIDRegistry` as the DID layer names it: datasets, grants, the
 * audit trail and consent records. Each is one lib/chain verb (client first, then a parameters
 * object); this module gathers them under the names its importers use.
 *
 * @module
 */
export { registerDataset } from "../chain/register_dataset.ts";
export { grantDataAccess } from "../chain/grant_data_access.ts";
export { revokeDataAccess } from "../chain/revoke_data_access.ts";
export { hasDataAccess as hasAccess } from "../chain/has_data_access.ts";
export { recordDataAccess as recordAccess } from "../chain/record_data_access.ts";
export { getDataGrant as getGrant, type Grant } from "../chain/get_data_grant.ts";
export { getDataset } from "../chain/get_dataset.ts";
export { rotateDataset } from "../chain/rotate_dataset.ts";
export { recordConsent } from "../chain/record_consent.ts";
export { hasConsent } from "../chain/has_consent.ts";

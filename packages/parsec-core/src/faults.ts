/** What a handle call found wrong with a peer's message (returned, or carried by the error). */
import type { ParsecErrorCode } from './errors.js'
import type { PublicId } from './identity/identity.js'
import type { Malice } from './observations/malice.js'

/**
 * Misbehaviour found while handling a peer's message: data the caller can act on. `malice` is a
 * provable misbehaviour of `offender` (who may be a third peer whose event was relayed); we accuse
 * it. `rejected` is input refused without an accusation (a bad signature, an unknown parent): the
 * offender is the sender, who should never have relayed it.
 */
export type Fault =
  | { readonly kind: 'malice'; readonly offender: PublicId; readonly malice: Malice }
  | {
      readonly kind: 'rejected'
      readonly offender: PublicId
      readonly code: ParsecErrorCode
      readonly detail: string
    }

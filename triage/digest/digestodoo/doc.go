// Package digestodoo connects digests to Odoo, so that package digest
// itself never imports odoo (internal/app plugs these in):
//
//   - Poster (digest.OdooPoster) writes a digest's customer section into
//     Odoo through the odoo client: an internal note on the customer's
//     chatter, or a To-Do activity for the customer's salesperson. Every
//     write is idempotent on a marker the digest puts into the body: the
//     poster searches for it first and returns what it finds, so a retry
//     after an ambiguous failure (Odoo committed, then the answer was
//     lost) never posts twice.
//   - Directory (digest.Directory) answers "which customers does this
//     account look after" from the local Odoo mirror tables (never a live
//     call): the customers of the sale orders whose salesperson has one of
//     the account's e-mail addresses (or logins), or whose sales team has
//     the account's team name, plus the customers whose salesperson field
//     names such a user. A customer is the commercial partner (the
//     company) of the order's partner, as the rules environment sees it.
package digestodoo

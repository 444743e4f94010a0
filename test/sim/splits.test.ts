import { catalogue, GROUPS } from "./Catalogue.ts"

catalogue(GROUPS.splits)
